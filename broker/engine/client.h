/* broker/engine/client.h - one network connection as the engine sees it
 * (client.c): its state, its input and output buffers, the limits it
 * gave, its topic aliases; it points at its session while attached. */
#ifndef HOLDFAST_ENGINE_CLIENT_H
#define HOLDFAST_ENGINE_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "holdfast/codec.h"
#include "map.h"
#include "net/conn.h"

struct hf_broker;
struct hf_session;

enum hf_cstate {
	HF_C_NEW = 0, /* waiting for CONNECT */
	HF_C_CONNECTED,
	HF_C_CLOSING,
};

struct hf_client {
	struct hf_broker *b;
	struct hf_conn *conn;
	struct hf_session *s;
	const struct hf_policy *policy; /* its listener's settings */
	int64_t last_rx;                /* monotonic ms */

	struct hf_wbuf out; /* encoded, not yet handed to the transport */
	struct hf_wbuf
	    *in; /* an incomplete packet's bytes, when there is one */

	/* Topic aliases: inbound (index = alias), outbound (topic -> alias). */
	struct hf_bytes *alias_in; /* owned copies, alias_in_n slots */
	struct hf_map *alias_out;  /* allocated on first use */
	struct hf_client *dirty_next;
	struct hf_client *all_next, *all_prev;

	/* Limits the client gave us (v5), or defaults. */
	uint32_t max_packet;    /* largest packet it accepts; 0 = none */
	uint16_t recv_max;      /* our in-flight QoS 1/2 limit towards it */
	uint16_t alias_max_out; /* topic aliases it accepts from us */
	uint16_t alias_in_n;
	uint16_t alias_out_next;
	uint16_t keepalive;
	/* With the store's writer thread: the first hold_off bytes of out
	 * wait for the batch it is committing (broker.c, end_of_turn). */
	uint32_t hold_off;

	/* Bit-fields: with them the struct is 136 bytes and takes a
	 * 144-byte heap chunk instead of 160 (idle connections). */
	uint8_t state : 2;         /* enum hf_cstate */
	uint8_t proto : 3;         /* 3, 4 or 5 */
	bool disconnect_clean : 1; /* DISCONNECT received: no will */
	bool close_pending : 1;    /* close after the turn's commit, flush */
	bool waits_commit : 1;     /* output holds a packet needing commit */
	bool dirty : 1;            /* on the broker's flush list */
	bool request_problem : 1;  /* v5: reason strings allowed */
	bool pump_due : 1;     /* acks freed window slots: pump after input */
	bool output_lost : 1;  /* a packet could not be buffered: close */
	bool connack_held : 1; /* its CONNACK waits in out (not sent yet) */
	bool throttled : 1;    /* output over the limit: reading paused */
	bool flow_paused : 1; /* reading paused: a subscriber behind (flow.c) */
};

/* Room for "ip:port", IPv6 included. */
#define HF_PEER_LEN 56

/* The engine side of a connection. hf_engine_accept() is the
 * acceptor (net/conn.h) the listener layer hands every new connection to
 * (ctx: the broker): it makes the client and takes the connection's
 * events (data, drained, eof, closed). Returns 0 or -1 (out of memory). */
int hf_engine_accept(void *ctx, struct hf_conn *conn);
/* The engine's side of the HTTP API (struct hf_status_source in
 * net/conn.h; ctx is the struct hf_broker): metrics.c. */
int hf_engine_metrics(void *ctx, struct hf_wbuf *out);
int hf_engine_health(void *ctx, bool ready, struct hf_wbuf *out, unsigned *n);
/* Every state change goes through here (it counts the clients waiting for
 * CONNECT, b->n_clients_new). */
void hf_client_set_state(struct hf_client *c, enum hf_cstate state);
/* Encode and queue a packet for c. Returns false only when it exceeds the
 * client's Maximum Packet Size (the caller discards it, v5 3.1.2.25).
 * Otherwise true, also when the packet is lost with its connection: c is
 * closing, or the packet could not be buffered (out of memory; c is then
 * closed at the end of the turn), so the caller keeps its state as for a
 * packet sent and lost in the network. */
bool hf_client_send(struct hf_client *c, const struct hf_packet *p);
/* Queue a PUBLISH already encoded for c's protocol version (a fan-out's
 * shared copy), writing pid at pid_off when qos > 0. Same checks and
 * bookkeeping as hf_client_send(). */
bool hf_client_send_publish_bytes(struct hf_client *c, const uint8_t *p,
                                  size_t len, uint8_t qos, size_t pid_off,
                                  uint16_t pid);
/* Close after sending a v5 DISCONNECT with rc (when the protocol allows). */
void hf_client_close(struct hf_client *c, int rc); /* rc < 0: none */
/* Hand c's output to its transport; past client_max_write_buffer_size
 * waiting there, stop reading from c until its transport has sent it all
 * (the drained event): MQTT's own flow control slows the client. */
void hf_client_flush(struct hf_client *c);
/* Hand only the first n bytes of c's output to its transport (the rest
 * waits for a later commit); all of it when n covers it. */
void hf_client_flush_prefix(struct hf_client *c, size_t n);
/* More than client_max_write_buffer_size waits in c's transport for the
 * socket: QoS 0 for it is dropped, QoS 1/2 stays queued until the
 * transport has sent it all (drained). What the engine encodes during one
 * turn is not counted (a turn's work is bounded by its reads and the
 * window), so a delivery decided here always has a drained event to
 * resume it. */
bool hf_client_backlogged(const struct hf_client *c);
/* The peer's "ip:port" (asked of the transport, so no client stores it),
 * written to buf (HF_PEER_LEN bytes); returns buf. */
const char *hf_client_peer(const struct hf_client *c, char *buf);
/* Log why (naming the client and the reason code), then hf_client_close. */
void hf_client_fail(struct hf_client *c, int rc, const char *what);

#endif
