//! Scenarios that must behave the same under both spoolers: one macro turns a scenario into a module
//! with a `stock` and a `rust` test, so every behaviour is checked against pbx_spool itself first.
//! The `rust` test fails (never skips) when our module is not built.

/// Runs a scenario once with the stock pbx_spool and once with pbx_spool_rs.
///
/// With a started instance (optionally configured first):
/// ```ignore
/// both_spoolers! {
///     /// Doc comment for the scenario.
///     fn places_a_call(ast: &Asterisk, spooler: Spooler) configure(|b| b.extensions(DIALPLAN)) {
///         ast.drop_call_file("a.call", CALL);
///     }
/// }
/// ```
/// or owning the setup entirely:
/// ```ignore
/// both_spoolers! {
///     fn custom(spooler: Spooler) {
///         let ast = Asterisk::builder(spooler).option("maxcalls", 1).start();
///     }
/// }
/// ```
/// Each expands to `mod <name> { #[test] fn stock() ..; #[test] fn rust() .. }`, so the tests are
/// `<file>::<name>::stock` and `<file>::<name>::rust`.
#[macro_export]
macro_rules! both_spoolers {
    (
        $(#[$meta:meta])*
        fn $name:ident($ast:ident : &Asterisk, $spooler:ident : Spooler)
        $(configure($configure:expr))?
        $body:block
    ) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_variables)]
            fn scenario($ast: &$crate::Asterisk, $spooler: $crate::Spooler) $body

            fn run(spooler: $crate::Spooler) {
                #[allow(unused_mut)]
                let mut builder = $crate::Asterisk::builder(spooler);
                $( builder = $crate::configure(builder, $configure); )?
                let ast = builder.start();
                scenario(&ast, spooler);
            }

            #[test]
            fn stock() {
                run($crate::Spooler::Stock)
            }

            #[test]
            fn rust() {
                run($crate::Spooler::Rust)
            }
        }
    };
    (
        $(#[$meta:meta])*
        fn $name:ident($spooler:ident : Spooler)
        $body:block
    ) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn scenario($spooler: $crate::Spooler) $body

            #[test]
            fn stock() {
                scenario($crate::Spooler::Stock)
            }

            #[test]
            fn rust() {
                scenario($crate::Spooler::Rust)
            }
        }
    };
}
/// Applies a scenario's `configure(...)` closure; a function so the closure's argument type is known.
pub fn configure(builder: super::Builder, f: impl FnOnce(super::Builder) -> super::Builder) -> super::Builder {
    f(builder)
}
