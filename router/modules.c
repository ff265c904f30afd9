/*
 * modules — the router's optional parts, started in order after the core
 * registry. Each module registers its trigger kinds (reg_trigkind_add), its
 * built-in functions (builtin_add) and the front message kinds it handles
 * (router_on_kind). Add one line per module here.
 */
#include "router.h"
#include "cron.h"
#include "logtrig.h"
#include "pubsub.h"
#include "topics.h"
#include "httptrig.h"
#include "streams.h"
#include "channels.h"
#include "workerauth.h"

void router_modules_init(struct router *r)
{
	topics_init(r);
	cron_init(r);
	logtrig_init(r);
	pubsub_init(r);
	httptrig_init(r);
	streams_init(r);
	chan_init(r);
	workerauth_init(r);
}

void router_modules_free(struct router *r)
{
	streams_free(r);
	httptrig_free(r);
	topics_free(r);
	pubsub_free(r);
	logtrig_free(r);
	cron_free(r);
	chan_free_all(r);
}
