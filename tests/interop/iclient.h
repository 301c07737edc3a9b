/* tests/interop/iclient.h - a libmosquitto client wrapper for the interop
 * tests: callbacks record what arrived, the test thread waits on it.
 *
 * Each struct ic owns one struct mosquitto driven by libmosquitto's own
 * network thread (mosquitto_loop_start). Callbacks run on that thread and
 * append to the struct under a mutex; the test thread waits with deadlines
 * (ic_wait_* return false on timeout, never block forever). Received
 * messages are deep copies (topic, payload, v5 properties) owned by the
 * struct until ic_free(). Auto-reconnect is pushed out of reach (one hour
 * delay) so a broker that drops a connection shows up as a failure instead
 * of being silently papered over.
 *
 * Header-only (static functions) because every .c file in tests/interop
 * is its own test program; include it from those files only. */
#ifndef HF_ICLIENT_H
#define HF_ICLIENT_H

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "broker_proc.h"
#include "test.h"

#define IC_WAIT_MS 10000 /* default deadline for a single expected event */

struct ic_msg {
	char *topic;
	void *payload;
	int len;
	int qos;
	int mid;
	bool retain;
	mosquitto_property *props;
};

struct ic {
	struct mosquitto *m;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool threaded;
	/* Everything below is written by callbacks, read under mu. */
	int connects;    /* CONNACKs seen with rc 0 */
	int conn_rc;     /* last CONNACK rc (-1 none yet) */
	int conn_flags;  /* last CONNACK flags (bit 0 = session present) */
	int disconnects; /* on_disconnect calls */
	int disc_rc;
	int published;  /* on_publish calls (acks complete) */
	int pub_failed; /* v5 on_publish with reason code >= 0x80 */
	int subacks;
	int granted[8]; /* granted QoS / reason codes of the last SUBACK */
	int ngranted;
	int unsubacks;
	struct ic_msg *msgs;
	int nmsgs, cap;
};

static inline int64_t
ic_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void
ic_on_connect(struct mosquitto *m, void *obj, int rc, int flags,
              const mosquitto_property *props)
{
	struct ic *c = obj;

	pthread_mutex_lock(&c->mu);
	c->conn_rc = rc;
	c->conn_flags = flags;
	if (rc == 0)
		c->connects++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static inline void
ic_on_disconnect(struct mosquitto *m, void *obj, int rc,
                 const mosquitto_property *props)
{
	struct ic *c = obj;

	pthread_mutex_lock(&c->mu);
	c->disconnects++;
	c->disc_rc = rc;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static inline void
ic_on_publish(struct mosquitto *m, void *obj, int mid, int reason,
              const mosquitto_property *props)
{
	struct ic *c = obj;

	pthread_mutex_lock(&c->mu);
	c->published++;
	if (reason >= 0x80)
		c->pub_failed++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static inline void
ic_on_subscribe(struct mosquitto *m, void *obj, int mid, int n,
                const int *granted, const mosquitto_property *props)
{
	struct ic *c = obj;

	pthread_mutex_lock(&c->mu);
	c->ngranted = n < 8 ? n : 8;
	for (int i = 0; i < c->ngranted; i++)
		c->granted[i] = granted[i];
	c->subacks++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static inline void
ic_on_unsubscribe(struct mosquitto *m, void *obj, int mid,
                  const mosquitto_property *props)
{
	struct ic *c = obj;

	pthread_mutex_lock(&c->mu);
	c->unsubacks++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static inline void
ic_on_message(struct mosquitto *m, void *obj,
              const struct mosquitto_message *msg,
              const mosquitto_property *props)
{
	struct ic *c = obj;
	struct ic_msg *r;

	pthread_mutex_lock(&c->mu);
	if (c->nmsgs == c->cap) {
		int ncap = c->cap ? c->cap * 2 : 64;
		struct ic_msg *n = realloc(c->msgs, sizeof(*n) * (size_t)ncap);

		if (!n) {
			pthread_mutex_unlock(&c->mu);
			return;
		}
		c->msgs = n;
		c->cap = ncap;
	}
	r = &c->msgs[c->nmsgs];
	memset(r, 0, sizeof(*r));
	r->topic = strdup(msg->topic);
	r->len = msg->payloadlen;
	r->payload = malloc((size_t)msg->payloadlen + 1);
	if (r->payload) {
		if (msg->payloadlen)
			memcpy(r->payload, msg->payload,
			       (size_t)msg->payloadlen);
		((char *)r->payload)[msg->payloadlen] = '\0';
	}
	r->qos = msg->qos;
	r->mid = msg->mid;
	r->retain = msg->retain;
	if (props)
		mosquitto_property_copy_all(&r->props, props);
	c->nmsgs++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Create a client. id may be NULL (broker/library picks one, clean only).
 * version is MQTT_PROTOCOL_V311 or MQTT_PROTOCOL_V5. */
static inline int
ic_init(struct ic *c, const char *id, bool clean, int version)
{
	pthread_condattr_t ca;

	memset(c, 0, sizeof(*c));
	c->conn_rc = -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	c->m = mosquitto_new(id, clean, c);
	if (!c->m)
		return -1;
	mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, version);
	mosquitto_connect_v5_callback_set(c->m, ic_on_connect);
	mosquitto_disconnect_v5_callback_set(c->m, ic_on_disconnect);
	mosquitto_publish_v5_callback_set(c->m, ic_on_publish);
	mosquitto_subscribe_v5_callback_set(c->m, ic_on_subscribe);
	mosquitto_unsubscribe_v5_callback_set(c->m, ic_on_unsubscribe);
	mosquitto_message_v5_callback_set(c->m, ic_on_message);
	mosquitto_reconnect_delay_set(c->m, 3600, 3600, false);
	return 0;
}

/* Wait until *field >= n (field points into c), up to ms. */
static inline bool
ic_wait_ge(struct ic *c, const int *field, int n, int ms)
{
	struct timespec ts;
	int64_t end = ic_now_ms() + ms;
	bool ok;

	pthread_mutex_lock(&c->mu);
	while (*field < n) {
		int64_t now = ic_now_ms();

		if (now >= end)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (end - now) / 1000;
		ts.tv_nsec += ((end - now) % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	}
	ok = *field >= n;
	pthread_mutex_unlock(&c->mu);
	return ok;
}

static inline int
ic_get(struct ic *c, const int *field)
{
	int v;

	pthread_mutex_lock(&c->mu);
	v = *field;
	pthread_mutex_unlock(&c->mu);
	return v;
}

/* Connect (with optional v5 CONNECT properties), start the network thread
 * and wait for the CONNACK. Returns the CONNACK rc, or -1 on failure. */
static inline int
ic_connect_props(struct ic *c, uint16_t port, int keepalive,
                 const mosquitto_property *props)
{
	int before = ic_get(c, &c->connects);

	if (mosquitto_connect_bind_v5(c->m, "127.0.0.1", port, keepalive, NULL,
	                              props) != MOSQ_ERR_SUCCESS)
		return -1;
	if (mosquitto_loop_start(c->m) != MOSQ_ERR_SUCCESS)
		return -1;
	c->threaded = true;
	/* Either a successful CONNACK or a refusal / disconnect. */
	int64_t end = ic_now_ms() + IC_WAIT_MS;
	while (ic_now_ms() < end) {
		if (ic_get(c, &c->connects) > before)
			return 0;
		pthread_mutex_lock(&c->mu);
		int rc = c->conn_rc;
		pthread_mutex_unlock(&c->mu);
		if (rc > 0)
			return rc;
		ic_wait_ge(c, &c->connects, before + 1, 50);
	}
	return -1;
}

static inline int
ic_connect(struct ic *c, uint16_t port)
{
	return ic_connect_props(c, port, 30, NULL);
}

/* Subscribe and wait for the SUBACK; returns the first granted QoS /
 * reason code, or -1 when no SUBACK came. */
static inline int
ic_subscribe_props(struct ic *c, const char *filter, int qos, int options,
                   const mosquitto_property *props)
{
	int before = ic_get(c, &c->subacks);

	if (mosquitto_subscribe_v5(c->m, NULL, filter, qos, options, props) !=
	    MOSQ_ERR_SUCCESS)
		return -1;
	if (!ic_wait_ge(c, &c->subacks, before + 1, IC_WAIT_MS))
		return -1;
	pthread_mutex_lock(&c->mu);
	int g = c->ngranted > 0 ? c->granted[0] : -1;
	pthread_mutex_unlock(&c->mu);
	return g;
}

static inline int
ic_subscribe(struct ic *c, const char *filter, int qos)
{
	return ic_subscribe_props(c, filter, qos, 0, NULL);
}

static inline int
ic_publish_props(struct ic *c, const char *topic, int len, const void *p,
                 int qos, bool retain, const mosquitto_property *props)
{
	return mosquitto_publish_v5(c->m, NULL, topic, len, p, qos, retain,
	                            props);
}

static inline int
ic_publish(struct ic *c, const char *topic, const char *s, int qos, bool retain)
{
	return ic_publish_props(c, topic, (int)strlen(s), s, qos, retain, NULL);
}

/* Publish and wait until the library reports it complete (sent for QoS 0,
 * PUBACK for 1, PUBCOMP for 2). */
static inline bool
ic_publish_wait(struct ic *c, const char *topic, const char *s, int qos,
                bool retain)
{
	int before = ic_get(c, &c->published);

	if (ic_publish(c, topic, s, qos, retain) != MOSQ_ERR_SUCCESS)
		return false;
	return ic_wait_ge(c, &c->published, before + 1, IC_WAIT_MS);
}

/* Index of the first message on topic at or after from, -1 if none. */
static inline int
ic_find(struct ic *c, const char *topic, int from)
{
	int idx = -1;

	pthread_mutex_lock(&c->mu);
	for (int i = from; i < c->nmsgs; i++) {
		if (strcmp(c->msgs[i].topic, topic) == 0) {
			idx = i;
			break;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return idx;
}

/* Wait for a message on topic (searching from index from). Returns its
 * index or -1 on timeout. The msgs array may move while the network thread
 * runs: read entries only through ic_msg_at() or after ic_close(). */
static inline int
ic_wait_topic(struct ic *c, const char *topic, int from, int ms)
{
	int64_t end = ic_now_ms() + ms;
	int seen;

	for (;;) {
		int idx = ic_find(c, topic, from);

		if (idx >= 0)
			return idx;
		seen = ic_get(c, &c->nmsgs);
		if (ic_now_ms() >= end)
			return -1;
		ic_wait_ge(c, &c->nmsgs, seen + 1,
		           (int)(end - ic_now_ms()) + 1);
	}
}

/* Copy out message i (shallow: the pointers stay owned by c, and the
 * entries themselves never change once appended). */
static inline struct ic_msg
ic_msg_at(struct ic *c, int i)
{
	struct ic_msg m;

	pthread_mutex_lock(&c->mu);
	m = c->msgs[i];
	pthread_mutex_unlock(&c->mu);
	return m;
}

/* Stop the network thread (if still running) without touching the
 * connection; after this c->msgs may be read directly. */
static inline void
ic_close(struct ic *c)
{
	if (c->threaded) {
		/* Marks the client as disconnecting (also when the connection
		 * is already gone), so the network thread leaves its
		 * reconnect wait when loop_stop wakes it: no thread
		 * cancellation needed. */
		mosquitto_disconnect(c->m);
		mosquitto_loop_stop(c->m, false);
		c->threaded = false;
	}
}

/* Normal DISCONNECT (optionally a v5 reason code) and stop the thread. */
static inline bool
ic_disconnect_rc(struct ic *c, int reason)
{
	bool ok = true;
	int before = ic_get(c, &c->disconnects);

	if (!c->threaded)
		return true;
	if (mosquitto_disconnect_v5(c->m, reason, NULL) == MOSQ_ERR_SUCCESS)
		ok = ic_wait_ge(c, &c->disconnects, before + 1, IC_WAIT_MS);
	else
		ok = false;
	ic_close(c);
	return ok;
}

static inline bool
ic_disconnect(struct ic *c)
{
	return ic_disconnect_rc(c, 0);
}

/* Kill the connection without DISCONNECT: shut the socket down under the
 * library's feet, so the broker sees the TCP connection end abnormally. */
static inline void
ic_abort(struct ic *c)
{
	int fd = mosquitto_socket(c->m);

	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	if (c->threaded)
		ic_wait_ge(c, &c->disconnects, 1, IC_WAIT_MS);
	ic_close(c);
}

static inline void
ic_free(struct ic *c)
{
	ic_close(c);
	if (c->m)
		mosquitto_destroy(c->m);
	c->m = NULL;
	for (int i = 0; i < c->nmsgs; i++) {
		free(c->msgs[i].topic);
		free(c->msgs[i].payload);
		mosquitto_property_free_all(&c->msgs[i].props);
	}
	free(c->msgs);
	c->msgs = NULL;
	c->nmsgs = c->cap = 0;
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
}

/* A disconnect-then-free for the common ending of a test. */
static inline void
ic_end(struct ic *c)
{
	if (c->threaded)
		ic_disconnect(c);
	ic_free(c);
}

/* Render the user properties of a list as "k=v;k=v;" in wire order. */
static inline void
ic_user_props(const mosquitto_property *props, char *out, size_t cap)
{
	const mosquitto_property *p;
	char *k = NULL, *v = NULL;
	size_t used = 0;

	out[0] = '\0';
	p = mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY,
	                                        &k, &v, false);
	while (p) {
		int n = snprintf(out + used, cap - used, "%s=%s;", k, v);

		if (n > 0 && (size_t)n < cap - used)
			used += (size_t)n;
		free(k);
		free(v);
		k = v = NULL;
		p = mosquitto_property_read_string_pair(
		    p, MQTT_PROP_USER_PROPERTY, &k, &v, true);
	}
}

#endif
