/*
 * bindgen input for pbx_spool_rs: the Asterisk API the Rust side calls directly.
 * Only this project's own text lives here; the Asterisk headers themselves are found at build time
 * (see asterisk-headers/README.md and build.rs) and are never copied into the repository.
 */
#include "asterisk.h"
#include "asterisk/app.h"
#include "asterisk/channel.h"
#include "asterisk/cli.h"
#include "asterisk/config.h"
#include "asterisk/format_cap.h"
#include "asterisk/manager.h"
#include "asterisk/module.h"
#include "asterisk/options.h"
#include "asterisk/paths.h"
#include "asterisk/pbx.h"

#include "pbx_spool_rs.h"
