/* broker/engine/send.h - what the engine sends a client (send.c). */
#ifndef HOLDFAST_ENGINE_SEND_H
#define HOLDFAST_ENGINE_SEND_H

#include <stdbool.h>
#include <stdint.h>

struct hf_client;
struct hf_msg;

/* Encode and queue one PUBLISH of m for c, with the MQTT 5 properties m
 * carries, c's topic alias when it takes them, and the subscription ids.
 * Returns false when it could not be sent at all (bigger than the client
 * accepts: the caller discards it, v5 3.1.2.25). */
bool hf_send_publish(struct hf_client *c, struct hf_msg *m, uint8_t qos,
                     bool retain, uint16_t pid, bool dup,
                     const uint32_t *subids, uint16_t nsub);
/* Queue a PUBACK, PUBREC, PUBREL or PUBCOMP (type) for pid; rc is sent to
 * MQTT 5 clients only. */
void hf_send_ack(struct hf_client *c, uint8_t type, uint16_t pid, uint8_t rc);

#endif
