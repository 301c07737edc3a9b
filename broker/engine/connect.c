/* broker/engine/connect.c - CONNECT/CONNACK, DISCONNECT, session lifetime,
 * wills, keepalive.
 *
 * Sessions are found by client identifier in b->sessions. A connection
 * attaches to a session (taking it over from an older connection, which is
 * closed with v5 DISCONNECT 0x8E), and detaches when it ends; a session
 * outlives its connection when it is persistent (3.1.1 clean session 0, or a
 * v5 session expiry interval > 0) until it expires. A will is armed when a
 * connection ends without DISCONNECT 0x00 and published after the will
 * delay or when the session ends, whichever comes first, unless a new
 * connection resumes the session first [MQTT-3.1.3-9]. Time-driven work
 * (keepalive, will delay, session expiry) runs in hf_session_tick(), once a
 * second; connections that have not sent CONNECT are closed by their own
 * timer at connect_timeout (hf_connect_timeouts). Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holdfast/auth.h"
#include "broker.h"
#include "client.h"
#include "connect.h"
#include "durable.h"
#include "ident.h"
#include "logpkt.h"
#include "mount.h"
#include "msg.h"
#include "flow.h"
#include "outq.h"
#include "route.h"
#include "subscribe.h"

/* A client that sends no whole packet for 1.5 times its keepalive is
 * gone [MQTT-3.1.2-24]: the keepalive in seconds times this. */
#define KEEPALIVE_GRACE_MS 1500

static void
send_connack(struct hf_client *c, uint8_t rc, bool present,
             const struct hf_props *props)
{
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = HF_CONNACK;
	p.u.connack.rc = rc;
	p.u.connack.session_present = present;
	if (props)
		p.u.connack.props = *props;
	hf_client_send(c, &p);
}

/* Refuse a CONNECT: CONNACK with the code for the client's version, then
 * close. v311 is the 3.1.1 return code, v5 the reason code. */
static void
refuse(struct hf_client *c, uint8_t v311, uint8_t v5, const char *why)
{
	send_connack(c, c->proto == HF_PROTO_V5 ? v5 : v311, false, NULL);
	/* mosquitto 2.0.11 words a refused authentication "not authorised"
	 * (whatever the code) and any other refusal a protocol error. */
	hf_logpkt_refused(c,
	                  v311 == HF_CONNACK_NOT_AUTHORIZED ||
	                      v311 == HF_CONNACK_BAD_CREDENTIALS,
	                  why);
	hf_client_close(c, -1);
}

struct hf_session *
hf_session_new(struct hf_broker *b, const uint8_t *id, size_t len)
{
	/* One allocation: the session and its client id, which is also the
	 * session table's key (the table borrows it). */
	struct hf_session *s = calloc(1, sizeof(*s) + len + 1);
	if (!s)
		return NULL;
	memcpy(s->id, id, len);
	s->id[len] = '\0';
	s->id_len = (uint16_t)len;
	if (hf_map_put(&b->sessions, s->id, len, s) != 0) {
		free(s);
		return NULL;
	}
	s->b = b;
	s->next_pid = 1;
	s->all_next = b->all_sessions;
	if (b->all_sessions)
		b->all_sessions->all_prev = s;
	b->all_sessions = s;
	b->n_sessions++;
	return s;
}

/* Forget the session's will. Its store reference belongs to the session's
 * store record and goes with the next hf_dur_session_save() (or the
 * session's deletion): the caller saves or frees the session. */
static void
drop_will(struct hf_session *s)
{
	struct hf_msg *w = s->will;
	if (!w)
		return;
	s->will = NULL;
	s->will_at = 0;
	hf_msg_unref(w);
}

static void
publish_will(struct hf_session *s)
{
	struct hf_msg *w = s->will;
	if (!w)
		return;
	s->will = NULL;
	s->will_at = 0;
	/* Route first: the deliveries take their own store references
	 * before the session record lets go of the will's (in the save), so
	 * the body is not deleted and written again. */
	hf_publish_route(s->b, w, s, false);
	hf_dur_session_save(s, false);
	hf_msg_unref(w);
}

/* Has this offline session outlived its expiry interval (or
 * persistent_client_expiration)? */
static bool
session_expired(const struct hf_session *s, int64_t now)
{
	if (s->client || s->bridge) /* a bridge's session never expires */
		return false;
	int64_t limit = -1;
	uint64_t pce = s->b->conf->persistent_client_expiration;
	if (s->expiry != UINT32_MAX)
		limit = (int64_t)s->expiry * 1000;
	else if (pce)
		limit = (int64_t)pce * 1000;
	return limit >= 0 && now - s->offline_since >= limit;
}

void
hf_session_free(struct hf_session *s, bool publish)
{
	struct hf_broker *b = s->b;
	if (publish)
		publish_will(s);
	drop_will(s);
	hf_dur_session_drop(s);
	hf_session_drop_subs(s);
	hf_metrics_queued(s, 0, 0); /* the broker-wide sums lose them */
	hf_metrics_inflight(s, 0, 0);
	hf_session_hot_drop(s);
	hf_flow_session_gone(s);
	struct hf_qentry *lists[2] = {s->inf_head, s->q_head};
	for (int i = 0; i < 2; i++) {
		for (struct hf_qentry *e = lists[i], *n; e; e = n) {
			n = e->next;
			hf_qentry_free(b, e);
		}
	}
	free(s->pids_out);
	hf_map_del(&b->sessions, s->id, s->id_len);
	if (s->all_prev)
		s->all_prev->all_next = s->all_next;
	else
		b->all_sessions = s->all_next;
	if (s->all_next)
		s->all_next->all_prev = s->all_prev;
	b->n_sessions--;
	free(s->qos2_in);
	free(s->subs);
	free(s->ident);
	free(s);
}

/* Build the will message of a CONNECT. NULL when none or out of memory. */
static struct hf_msg *
make_will(struct hf_client *c, const struct hf_connect *p)
{
	struct hf_publish w;
	memset(&w, 0, sizeof(w));
	if (!hf_mount_topic(c, p->will_topic, &w.topic))
		return NULL;
	w.payload = p->will_payload;
	w.qos = p->will_qos;
	w.retain = p->will_retain;
	w.props = p->will_props;
	return hf_msg_new(&w, hf_wall_ms());
}

static bool
assign_id(struct hf_client *c, char *out, size_t cap)
{
	struct hf_broker *b = c->b;
	const char *prefix =
	    b->conf->auto_id_prefix ? b->conf->auto_id_prefix : "auto-";
	for (int tries = 0; tries < 100; tries++) {
		uint64_t r = ((uint64_t)uv_hrtime() << 16) ^
		             (++b->auto_id_counter * 0x9E3779B97F4A7C15ull);
		snprintf(out, cap, "%s%016llX", prefix, (unsigned long long)r);
		if (!hf_map_get(&b->sessions, out, strlen(out)))
			return true;
	}
	return false;
}

/* Checks that refuse the CONNECT; returns false after refusing. */
static bool
connect_allowed(struct hf_client *c, const struct hf_connect *p)
{
	const struct hf_config *conf = c->b->conf;
	if ((p->props.present & HF_PP_AUTH_METHOD)) {
		refuse(c, HF_CONNACK_NOT_AUTHORIZED, HF_RC_BAD_AUTH_METHOD,
		       "unsupported authentication method");
		return false;
	}
	if (conf->clientid_prefixes && p->client_id.len &&
	    (p->client_id.len < strlen(conf->clientid_prefixes) ||
	     memcmp(p->client_id.p, conf->clientid_prefixes,
	            strlen(conf->clientid_prefixes)) != 0)) {
		refuse(c, HF_CONNACK_NOT_AUTHORIZED, HF_RC_NOT_AUTHORIZED,
		       "client id does not match clientid_prefixes");
		return false;
	}
	/* max_keepalive cannot be told to a 3.1.1 client (no Server Keep
	 * Alive): its own keepalive is accepted as mosquitto 2.0.11 does, so
	 * one configuration serves both protocol versions. */
	if (p->will && p->will_qos > conf->maximum_qos &&
	    p->proto_ver == HF_PROTO_V5) {
		refuse(c, HF_CONNACK_NOT_AUTHORIZED, HF_RC_QOS_NOT_SUPPORTED,
		       "will QoS above maximum_qos");
		return false;
	}
	if (p->will && conf->message_size_limit &&
	    p->will_payload.len > conf->message_size_limit) {
		/* Refused, not stored: it could never be published. 5.0
		 * 0x95 (Packet too large); 3.1.1 has no such code and gets
		 * 0x05 (not authorized), as from mosquitto. */
		refuse(c, HF_CONNACK_NOT_AUTHORIZED, HF_RC_PACKET_TOO_LARGE,
		       "will payload over message_size_limit");
		return false;
	}
	if (p->will && conf->max_topic_levels &&
	    hf_topic_levels(p->will_topic.p, p->will_topic.len) >
	        conf->max_topic_levels) {
		/* A will PUBLISH would be refused (inbound.c), so the will
		 * is refused now: 5.0 0x90 (Topic Name invalid), 3.1.1 0x05
		 * as for other wills the server will not take. */
		refuse(c, HF_CONNACK_NOT_AUTHORIZED, HF_RC_TOPIC_NAME_INVALID,
		       "will topic deeper than max_topic_levels");
		return false;
	}
	if (p->will && p->will_retain && !conf->retain_available) {
		refuse(c, HF_CONNACK_NOT_AUTHORIZED, HF_RC_RETAIN_NOT_SUPPORTED,
		       "retained will not allowed");
		return false;
	}
	return true;
}

/* Fill the CONNACK properties the server announces (v5). */
static void
connack_props(struct hf_client *c, struct hf_props *pr, uint16_t keepalive,
              uint16_t asked_keepalive, const char *assigned)
{
	const struct hf_config *conf = c->b->conf;
	memset(pr, 0, sizeof(*pr));
	if (conf->maximum_qos < 2) {
		pr->present |= HF_PP_MAXIMUM_QOS;
		pr->maximum_qos = conf->maximum_qos;
	}
	if (!conf->retain_available) {
		pr->present |= HF_PP_RETAIN_AVAILABLE;
		pr->retain_available = 0;
	}
	if (conf->max_packet_size) {
		pr->present |= HF_PP_MAX_PACKET_SIZE;
		pr->max_packet_size = conf->max_packet_size;
	}
	if (conf->max_inflight_messages) {
		/* As mosquitto does: our Receive Maximum is the same bound we
		 * keep towards clients (QoS 2 messages awaiting PUBREL). */
		pr->present |= HF_PP_RECEIVE_MAX;
		pr->receive_max = conf->max_inflight_messages;
	}
	if (conf->max_topic_alias) {
		pr->present |= HF_PP_TOPIC_ALIAS_MAX;
		pr->topic_alias_max = conf->max_topic_alias;
	}
	if (assigned) {
		pr->present |= HF_PP_ASSIGNED_CLIENT_ID;
		pr->assigned_client_id.p = (const uint8_t *)assigned;
		pr->assigned_client_id.len = (uint32_t)strlen(assigned);
	}
	if (keepalive != asked_keepalive) {
		pr->present |= HF_PP_SERVER_KEEP_ALIVE; /* [MQTT-3.2.2-21] */
		pr->server_keep_alive = keepalive;
	}
}

/* What the steps of a CONNECT decide, for the next ones. */
struct connect_req {
	char idbuf[128];
	const uint8_t *id;
	size_t idlen;
	const char *assigned; /* v5 Assigned Client Identifier, or NULL */
	uint16_t keepalive;
	struct hf_msg *will; /* owned until the session takes it */
	char *username;      /* owned until the session takes it */
	char *cert_cn;       /* the same */
	bool present;
};

static void
req_free(struct connect_req *r)
{
	hf_msg_unref(r->will);
	free(r->username);
	free(r->cert_cn);
	r->will = NULL;
	r->username = r->cert_cn = NULL;
}

static char *
dup_bytes(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* Step 1: the CONNECT itself - what the protocol and the configuration
 * refuse, the client identifier, the limits the client sets, the will. */
static bool
connect_check(struct hf_client *c, const struct hf_connect *p,
              struct connect_req *r)
{
	struct hf_broker *b = c->b;
	const struct hf_config *conf = b->conf;
	bool v5 = p->proto_ver == HF_PROTO_V5;

	if (!connect_allowed(c, p))
		return false;
	r->id = p->client_id.p;
	r->idlen = p->client_id.len;
	if (r->idlen == 0 && p->proto_ver == HF_PROTO_V31) {
		/* 3.1 (3.1.3): the identifier is 1 to 23 characters; there
		 * are no assigned identifiers. */
		refuse(c, HF_CONNACK_ID_REJECTED, HF_RC_CLIENT_ID_INVALID,
		       "MQTT 3.1 client without a client id");
		return false;
	}
	if (r->idlen == 0) {
		/* [MQTT-3.1.3-7/8]; v5 3.1.3.1 */
		if ((!v5 && !p->clean_start) ||
		    !conf->allow_zero_length_clientid) {
			refuse(c, HF_CONNACK_ID_REJECTED,
			       HF_RC_CLIENT_ID_INVALID,
			       "zero-length client id not allowed");
			return false;
		}
		if (!assign_id(c, r->idbuf, sizeof(r->idbuf))) {
			refuse(c, HF_CONNACK_UNAVAILABLE,
			       HF_RC_SERVER_UNAVAILABLE, "no free client id");
			return false;
		}
		r->id = (const uint8_t *)r->idbuf;
		r->idlen = strlen(r->idbuf);
		if (v5)
			r->assigned = r->idbuf;
	} else if (p->proto_ver == HF_PROTO_V31 && r->idlen > 23) {
		refuse(c, HF_CONNACK_ID_REJECTED, HF_RC_CLIENT_ID_INVALID,
		       "MQTT 3.1 client id longer than 23 bytes");
		return false;
	}

	/* Limits the client sets for what we send it. */
	if (v5) {
		if (p->props.present & HF_PP_RECEIVE_MAX)
			c->recv_max = p->props.receive_max;
		if (p->props.present & HF_PP_MAX_PACKET_SIZE)
			c->max_packet = p->props.max_packet_size;
		if (p->props.present & HF_PP_TOPIC_ALIAS_MAX)
			c->alias_max_out = p->props.topic_alias_max;
		if ((p->props.present & HF_PP_REQUEST_PROBLEM) &&
		    p->props.request_problem == 0)
			c->request_problem = false;
	}
	uint16_t inflight_cap =
	    conf->max_inflight_messages ? conf->max_inflight_messages : 65535;
	if (c->recv_max > inflight_cap)
		c->recv_max = inflight_cap;

	r->keepalive = p->keepalive;
	if (v5 && conf->max_keepalive < 65535 &&
	    (r->keepalive == 0 || r->keepalive > conf->max_keepalive))
		r->keepalive = conf->max_keepalive;
	c->keepalive = r->keepalive;

	if (p->will) {
		r->will = make_will(c, p);
		if (!r->will) {
			refuse(c, HF_CONNACK_UNAVAILABLE,
			       HF_RC_SERVER_UNAVAILABLE,
			       "out of memory (or a will topic too long with "
			       "the mount point)");
			return false;
		}
		if (!v5 && r->will->qos > conf->maximum_qos)
			r->will->qos = conf->maximum_qos;
	}
	return true;
}

/* Step 2: who is it, and may it connect (include/holdfast/auth.h)? A will
 * is a publish to come: its topic must be writable now. Kept as a step of
 * its own so that it can later finish asynchronously (a plugin, an
 * external service). */
static bool
connect_authenticate(struct hf_client *c, const struct hf_connect *p,
                     struct connect_req *r)
{
	char id[128 + 1], peer[HF_PEER_LEN];
	char *client_id = r->idlen < sizeof(id) ? id : NULL;
	const struct hf_peer_identity *cert =
	    c->conn ? c->conn->ops->identity(c->conn) : NULL;
	if (!client_id && !(client_id = dup_bytes(r->id, r->idlen)))
		goto oom;
	if (client_id == id) {
		memcpy(id, r->id, r->idlen);
		id[r->idlen] = '\0';
	}
	if ((p->has_username &&
	     !(r->username = dup_bytes(p->username.p, p->username.len))) ||
	    (cert && cert->cn && !(r->cert_cn = strdup(cert->cn))))
		goto oom;
	struct hf_auth_client who = {
	    .client_id = client_id,
	    .username = r->username,
	    .password = p->password.p,
	    .password_len = p->password.len,
	    .has_password = p->has_password,
	    .cert_subject = cert ? cert->subject : NULL,
	    .cert_cn = r->cert_cn,
	    .peer = hf_client_peer(c, peer),
	};
	char *as = NULL;
	enum hf_auth_rc rc = hf_auth_connect(c->policy->auth, &who, &as);
	if (as) { /* the name it is known by from now on */
		free(r->username);
		r->username = as;
	}
	if (rc != HF_AUTH_OK) {
		if (client_id != id)
			free(client_id);
		if (rc == HF_AUTH_BAD_CREDENTIALS)
			refuse(c, HF_CONNACK_BAD_CREDENTIALS,
			       HF_RC_BAD_USER_OR_PASSWORD,
			       r->username ? "bad username or password"
			                   : "no username given");
		else
			refuse(c, HF_CONNACK_NOT_AUTHORIZED,
			       HF_RC_NOT_AUTHORIZED,
			       r->username ? "not authorised"
			                   : "anonymous clients are not "
			                     "allowed");
		return false;
	}
	const struct hf_listener_conf *lc = c->policy->conf;
	if (lc && lc->use_username_as_clientid) {
		/* mosquitto's use_username_as_clientid: the name it was
		 * authenticated as (a certificate's too) is its client id. */
		if (!r->username) {
			if (client_id != id)
				free(client_id);
			refuse(c, HF_CONNACK_NOT_AUTHORIZED,
			       HF_RC_NOT_AUTHORIZED,
			       "use_username_as_clientid and no username");
			return false;
		}
		if (client_id != id)
			free(client_id);
		client_id = r->username;
		r->id = (const uint8_t *)r->username;
		r->idlen = strlen(r->username);
		r->assigned = NULL;
	}
	struct hf_acl_subject subj = {client_id, r->username, r->cert_cn};
	/* the will's topic as it will be published (with the mount point) */
	bool will_ok =
	    !r->will ||
	    hf_acl_check(c->policy->auth, &subj, hf_msg_topic(r->will),
	                 r->will->topic_len, HF_ACL_WRITE);
	if (client_id != id && client_id != r->username)
		free(client_id);
	if (!will_ok) {
		refuse(c, HF_CONNACK_NOT_AUTHORIZED, HF_RC_NOT_AUTHORIZED,
		       "will topic not allowed by the ACL");
		return false;
	}
	return true;
oom:
	if (client_id && client_id != id)
		free(client_id);
	refuse(c, HF_CONNACK_UNAVAILABLE, HF_RC_SERVER_UNAVAILABLE,
	       "out of memory");
	return false;
}

/* Step 3: the session - taken over, resumed, or new - with the identity
 * it is checked as from now on, stored before the CONNACK. */
static struct hf_session *
connect_attach(struct hf_client *c, const struct hf_connect *p,
               struct connect_req *r)
{
	struct hf_broker *b = c->b;
	const struct hf_config *conf = b->conf;
	bool v5 = p->proto_ver == HF_PROTO_V5;
	struct hf_session *s = hf_map_get(&b->sessions, r->id, r->idlen);
	if (s && session_expired(s, hf_now_ms(b))) {
		/* expired between two ticks: it is gone [MQTT-3.1.2-23] */
		b->stats.clients_expired++;
		hf_session_free(s, true);
		s = NULL;
	}
	if (s && s->bridge) {
		/* The local session of a bridge of ours (local_clientid):
		 * no client takes it over. */
		refuse(c, HF_CONNACK_ID_REJECTED, HF_RC_CLIENT_ID_INVALID,
		       "client id is a bridge's local session");
		return NULL;
	}
	if (s && s->client) {
		struct hf_client *old = s->client;
		if (conf->connection_messages)
			hf_log_ev(&b->log, HF_LOG_NOTICE, "session_taken_over",
			          s->id, NULL,
			          "Client %s already connected, closing old "
			          "connection.",
			          s->id);
		hf_client_close(old, HF_RC_SESSION_TAKEN_OVER);
		/* detaching may have ended a non-persistent session */
		s = hf_map_get(&b->sessions, r->id, r->idlen);
	}
	if (s && p->clean_start) {
		hf_session_free(s, true);
		s = NULL;
	}
	if (s) {
		r->present = true;
		/* A resumed session cancels a pending will [MQTT-3.1.3-9]. */
		drop_will(s);
	} else if (!(s = hf_session_new(b, r->id, r->idlen))) {
		refuse(c, HF_CONNACK_UNAVAILABLE, HF_RC_SERVER_UNAVAILABLE,
		       "out of memory");
		return NULL;
	}
	/* From now on it is checked as this client. */
	if (hf_ident_set(s, r->username, r->username ? strlen(r->username) : 0,
	                 r->cert_cn, r->cert_cn ? strlen(r->cert_cn) : 0,
	                 c->policy->auth, c->policy->port) != 0) {
		refuse(c, HF_CONNACK_UNAVAILABLE, HF_RC_SERVER_UNAVAILABLE,
		       "out of memory");
		if (!r->present)
			hf_session_free(s, false);
		return NULL;
	}
	s->proto = p->proto_ver;
	s->peer_bridge = p->bridge;
	if (v5) {
		s->expiry = (p->props.present & HF_PP_SESSION_EXPIRY)
		                ? p->props.session_expiry
		                : 0;
	} else {
		s->expiry = p->clean_start ? 0 : UINT32_MAX;
	}
	s->persistent = s->expiry > 0;
	s->will = r->will;
	r->will = NULL;
	s->will_delay =
	    (s->will && v5 && (p->will_props.present & HF_PP_WILL_DELAY))
	        ? p->will_props.will_delay
	        : 0;
	s->client = c;
	s->last_ack_ms = hf_now_ms(b); /* online: counts as making progress */
	c->s = s;
	/* Before the CONNACK. Also for a stored session resumed with expiry
	 * 0: its record then says so, and a restart ends it. */
	hf_dur_session_save(s, true);
	return s;
}

/* Step 4: CONNACK, then whatever waited for the session. */
static void
connect_ack(struct hf_client *c, const struct hf_connect *p,
            const struct connect_req *r, struct hf_session *s)
{
	struct hf_broker *b = c->b;
	bool v5 = p->proto_ver == HF_PROTO_V5;
	hf_client_set_state(c, HF_C_CONNECTED);
	c->last_rx = hf_now_ms(b);
	b->n_clients_connected++;
	b->stats.connections_total++;
	if (b->n_clients_connected > b->stats.clients_max)
		b->stats.clients_max = b->n_clients_connected;

	/* mosquitto's order: the connection line, the will, then CONNACK. */
	char peer[HF_PEER_LEN];
	if (b->conf->connection_messages)
		hf_log_ev(&b->log, HF_LOG_NOTICE, "client_connected", s->id,
		          hf_client_peer(c, peer),
		          "New client connected from %s as %s (p%d, c%d, "
		          "k%d%s%s%s).",
		          peer, s->id, hf_logpkt_pnum(p->proto_ver),
		          p->clean_start ? 1 : 0, r->keepalive,
		          r->username ? ", u'" : "",
		          r->username ? r->username : "",
		          r->username ? "'" : "");
	if (HF_LOGPKT_ON(c) && !s->will) {
		hf_log_ev(&b->log, HF_LOG_DEBUG, "will", s->id, NULL,
		          "No will message specified.");
	} else if (HF_LOGPKT_ON(c)) {
		hf_log_ev(&b->log, HF_LOG_DEBUG, "will", s->id, NULL,
		          "Will message specified (%lu bytes) (r%d, q%d).",
		          (unsigned long)p->will_payload.len,
		          p->will_retain ? 1 : 0, p->will_qos);
		hf_log_ev(&b->log, HF_LOG_DEBUG, "will", s->id, NULL, "\t%.*s",
		          (int)p->will_topic.len,
		          (const char *)p->will_topic.p);
	}
	struct hf_props pr;
	connack_props(c, &pr, r->keepalive, p->keepalive, r->assigned);
	send_connack(c, HF_RC_SUCCESS, r->present, v5 ? &pr : NULL);
	c->connack_held = true;
	if (r->present)
		hf_session_resend(s);
	hf_session_pump(s);
}

/* CONNECT in four steps: check, authenticate, attach the session, CONNACK. */
void
hf_handle_connect(struct hf_client *c, const struct hf_connect *p)
{
	struct connect_req r;
	memset(&r, 0, sizeof(r));
	c->proto = p->proto_ver;
	struct hf_session *s = NULL;
	if (connect_check(c, p, &r) && connect_authenticate(c, p, &r))
		s = connect_attach(c, p, &r);
	if (s)
		connect_ack(c, p, &r, s);
	req_free(&r);
}

void
hf_handle_disconnect(struct hf_client *c, const struct hf_ack *p)
{
	struct hf_session *s = c->s;
	if (c->proto == HF_PROTO_V5 &&
	    (p->props.present & HF_PP_SESSION_EXPIRY)) {
		if (s->expiry == 0 && p->props.session_expiry != 0) {
			/* [MQTT-3.14.2-2] */
			hf_logpkt_gone(c, HF_GONE_PROTOCOL,
			               "DISCONNECT sets a session expiry after "
			               "0 [MQTT-3.14.2-2]");
			hf_client_close(c, HF_RC_PROTOCOL_ERROR);
			return;
		}
		s->expiry = p->props.session_expiry;
		s->persistent = s->expiry > 0;
	}
	c->disconnect_clean = p->rc != HF_RC_DISCONNECT_WITH_WILL;
	if (c->b->conf->connection_messages)
		hf_log_ev(&c->b->log, HF_LOG_NOTICE, "client_disconnected",
		          s->id, NULL, "Client %s disconnected.", s->id);
	hf_client_close(c, -1);
}

void
hf_client_detach(struct hf_client *c)
{
	struct hf_session *s = c->s;
	struct hf_broker *b = c->b;
	if (!s)
		return;
	c->s = NULL;
	s->client = NULL;
	b->n_clients_connected--;
	s->offline_since = hf_now_ms(b);
	if (c->disconnect_clean)
		drop_will(s);
	hf_session_hot_drop(s); /* durable: what waits is on disk */
	/* QoS 0 messages are not kept for an offline client unless asked. */
	if (!b->conf->queue_qos0_messages || !s->persistent) {
		struct hf_qentry **pp = &s->q_head, *last = NULL;
		while (*pp) {
			struct hf_qentry *e = *pp;
			if (e->qos == 0) {
				*pp = e->next;
				hf_metrics_queued(s, s->n_queued - 1,
				                  s->queued_bytes -
				                      e->msg->payload_len);
				hf_qentry_free(b, e);
				continue;
			}
			last = e;
			pp = &e->next;
		}
		s->q_tail = last;
	}
	if (b->shutting_down) {
		hf_dur_session_save(s,
		                    false); /* no will on a broker shutdown */
		return;
	}
	if (!s->persistent) {
		hf_session_free(s, true);
		return;
	}
	if (s->will) {
		if (s->will_delay == 0)
			publish_will(s);
		else
			s->will_at =
			    s->offline_since + (int64_t)s->will_delay * 1000;
	}
	/* Synced: session expiry and a delayed will count from this moment,
	 * also across a crash. */
	hf_dur_session_save(s, true);
}

void
hf_session_tick(struct hf_broker *b, int64_t now)
{
	for (struct hf_client *c = b->all_clients, *n; c; c = n) {
		n = c->all_next;
		/* Idle connections give their buffers back (they are the
		 * bulk of an idle connection's memory). */
		if (c->out.len == 0 && c->out.cap && !c->dirty)
			hf_wbuf_free(&c->out);
		if (c->in && c->in->len == 0) {
			hf_wbuf_free(c->in);
			free(c->in);
			c->in = NULL;
		}
		/* last_rx: the last whole packet [MQTT-3.1.2-24] (5.0:
		 * [MQTT-3.1.2-22]). Clients waiting for CONNECT have their
		 * own timer (hf_connect_timeouts). */
		if (c->state == HF_C_CONNECTED && c->keepalive &&
		    now - c->last_rx >
		        (int64_t)c->keepalive * KEEPALIVE_GRACE_MS) {
			hf_log_ev(&b->log, HF_LOG_NOTICE, "keepalive_timeout",
			          c->s->id, NULL,
			          "Client %s has exceeded timeout, "
			          "disconnecting.",
			          c->s->id);
			hf_client_close(c, HF_RC_KEEP_ALIVE_TIMEOUT);
		}
	}
	for (struct hf_session *s = b->all_sessions, *n; s; s = n) {
		n = s->all_next;
		if (s->client)
			continue;
		if (s->will_at && now >= s->will_at)
			publish_will(s);
		if (session_expired(s, now)) {
			if (b->conf->connection_messages)
				hf_log(&b->log, HF_LOG_NOTICE,
				       "Session %s expired.", s->id);
			b->stats.clients_expired++;
			hf_session_free(s, true);
		}
	}
}

unsigned
hf_engine_recheck_auth(struct hf_broker *b)
{
	unsigned n = 0;
	for (struct hf_client *c = b->all_clients, *next; c; c = next) {
		next = c->all_next;
		if (c->state != HF_C_CONNECTED)
			continue;
		struct hf_acl_subject who = hf_session_subject(c->s);
		if (hf_auth_still_valid(hf_session_auth(c->s), &who) &&
		    (!c->conn || !c->conn->ops->trusted ||
		     c->conn->ops->trusted(c->conn)))
			continue;
		hf_log(&b->log, HF_LOG_NOTICE,
		       "Client %s disconnected: its credentials no longer "
		       "hold after the reload.",
		       c->s->id);
		hf_client_close(c, HF_RC_NOT_AUTHORIZED);
		n++;
	}
	return n;
}

int64_t
hf_connect_timeouts(struct hf_broker *b, int64_t now)
{
	int64_t limit = (int64_t)b->conf->connect_timeout * 1000, next = -1;
	/* Clients are listed newest first, so those still waiting for
	 * CONNECT are near the head: stop once all of them were seen (the
	 * count is taken first, closing one lowers it). */
	uint32_t waiting = b->n_clients_new, seen = 0;
	for (struct hf_client *c = b->all_clients, *n; c && seen < waiting;
	     c = n) {
		n = c->all_next;
		if (c->state != HF_C_NEW)
			continue;
		seen++;
		int64_t left = c->last_rx + limit - now;
		if (left > 0) {
			if (next < 0 || left < next)
				next = left;
			continue;
		}
		/* 3.1.4: a Server that does not receive CONNECT within a
		 * reasonable time after the connection is established
		 * SHOULD close it. */
		char peer[HF_PEER_LEN];
		if (c->policy->outgoing) /* a bridge of ours (bridge.c) */
			hf_log(&b->log, HF_LOG_NOTICE,
			       "Bridge connection to %s closed: no CONNACK "
			       "within %u s (connect_timeout).",
			       hf_client_peer(c, peer),
			       b->conf->connect_timeout);
		else
			hf_log(&b->log, HF_LOG_NOTICE,
			       "Client connection from %s closed: no CONNECT "
			       "within %u s (connect_timeout).",
			       hf_client_peer(c, peer),
			       b->conf->connect_timeout);
		hf_client_close(c, -1);
	}
	return next;
}
