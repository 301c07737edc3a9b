/* broker/engine/flow.h - publishers slowed, never dropped, while an online
 * subscriber that keeps acknowledging falls behind them (flow.c). */
#ifndef HOLDFAST_ENGINE_FLOW_H
#define HOLDFAST_ENGINE_FLOW_H

struct hf_broker;
struct hf_client;
struct hf_session;

/* s is online and has just queued a message behind its window: when its
 * backlog is past the high mark and it keeps acknowledging, stop reading
 * from the client whose PUBLISH is being routed (b->publisher). */
void hf_flow_queued(struct hf_session *s);
/* s acknowledged a delivery (it is making progress). */
void hf_flow_acked(struct hf_session *s);
/* Resume the paused publishers once no session is congested (called at
 * the end of each turn and by the flow timer). */
void hf_flow_check(struct hf_broker *b);
/* Forget s / c (freed). */
void hf_flow_session_gone(struct hf_session *s);
void hf_flow_client_gone(struct hf_client *c);
/* The transport of c may read again unless flow control holds it. */
void hf_flow_resume_reading(struct hf_client *c);
void hf_flow_free(struct hf_broker *b);

#endif
