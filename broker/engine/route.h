/* broker/engine/route.h - where a message goes (route.c). */
#ifndef HOLDFAST_ENGINE_ROUTE_H
#define HOLDFAST_ENGINE_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

struct hf_broker;
struct hf_msg;
struct hf_session;

/* The most distinct subscription identifiers one delivery carries in
 * place; more are kept in an array of the target's own. */
#define HF_TARGET_SUBIDS 16

/* One delivery decided by routing: a shared-group member, or a session with
 * all its matching plain subscriptions merged. */
struct hf_target {
	struct hf_session *s;
	uint8_t qos; /* highest granted */
	bool retain;
	bool rap; /* some matching subscription has Retain As Published */
	bool shared;
	uint16_t nsub; /* distinct subscription ids */
	uint32_t subids[HF_TARGET_SUBIDS];
	uint32_t *more_subids; /* the ones past HF_TARGET_SUBIDS, owned */
	uint16_t cap_more;
};

/* Route m to every matching subscription; origin is the publishing
 * session (for No Local) or NULL. Handles the retained store. With
 * may_refuse, a QoS 1/2 message that a full queue or a full store cannot
 * take is refused whole (nothing delivered, retained unchanged) and -1 is
 * returned; otherwise full queues drop it. Returns the number of sessions
 * it was delivered or queued to. */
int hf_publish_route(struct hf_broker *b, struct hf_msg *m,
                     const struct hf_session *origin, bool may_refuse);
/* May s receive a message on m's topic (the ACL of the listener it came
 * through)? */
bool hf_session_may_read(const struct hf_session *s, const struct hf_msg *m);
/* Free the routing scratch (the broker is going). */
void hf_route_free(struct hf_broker *b);

#endif
