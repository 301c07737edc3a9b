/* broker/engine/inbound.h - a client's PUBLISH and PUBREL (inbound.c). */
#ifndef HOLDFAST_ENGINE_INBOUND_H
#define HOLDFAST_ENGINE_INBOUND_H

struct hf_ack;
struct hf_client;
struct hf_publish;

/* decode_rc: HF_OK, or the reason the decoder refused the payload while the
 * rest of the packet decoded (HF_RC_PAYLOAD_FORMAT_INVALID), so it can be
 * answered with an acknowledgment instead of a disconnect. */
void hf_handle_publish(struct hf_client *c, const struct hf_publish *p,
                       int decode_rc);
void hf_handle_pubrel(struct hf_client *c, const struct hf_ack *a);

#endif
