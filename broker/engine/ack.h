/* broker/engine/ack.h - a client's acknowledgments of what it was sent
 * (ack.c). */
#ifndef HOLDFAST_ENGINE_ACK_H
#define HOLDFAST_ENGINE_ACK_H

struct hf_ack;
struct hf_client;

void hf_handle_puback(struct hf_client *c, const struct hf_ack *a);
void hf_handle_pubrec(struct hf_client *c, const struct hf_ack *a);
void hf_handle_pubcomp(struct hf_client *c, const struct hf_ack *a);

#endif
