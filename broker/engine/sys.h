/* broker/engine/sys.h - the $SYS/broker/... topics (sys.c). */
#ifndef HOLDFAST_ENGINE_SYS_H
#define HOLDFAST_ENGINE_SYS_H

struct hf_broker;

void hf_sys_start(struct hf_broker *b);
void hf_sys_publish(struct hf_broker *b);

#endif
