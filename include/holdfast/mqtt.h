/* holdfast/mqtt.h - MQTT constants shared by every layer: packet types,
 * protocol levels, reason codes, property identifiers and limits.
 *
 * Constants only: no types with behaviour, no functions. Values are the ones
 * the OASIS MQTT 3.1.1 and 5.0 specifications give. */
#ifndef HOLDFAST_MQTT_H
#define HOLDFAST_MQTT_H

/* Control packet types (high nibble of the fixed header). */
enum hf_ptype {
	HF_CONNECT = 1,
	HF_CONNACK = 2,
	HF_PUBLISH = 3,
	HF_PUBACK = 4,
	HF_PUBREC = 5,
	HF_PUBREL = 6,
	HF_PUBCOMP = 7,
	HF_SUBSCRIBE = 8,
	HF_SUBACK = 9,
	HF_UNSUBSCRIBE = 10,
	HF_UNSUBACK = 11,
	HF_PINGREQ = 12,
	HF_PINGRESP = 13,
	HF_DISCONNECT = 14,
	HF_AUTH = 15,
};

/* Protocol levels carried in CONNECT. */
#define HF_PROTO_V31  3 /* "MQIsdp" */
#define HF_PROTO_V311 4
#define HF_PROTO_V5   5

/* MQTT 3.1.1 CONNACK return codes. */
#define HF_CONNACK_ACCEPTED        0x00
#define HF_CONNACK_BAD_PROTOCOL    0x01
#define HF_CONNACK_ID_REJECTED     0x02
#define HF_CONNACK_UNAVAILABLE     0x03
#define HF_CONNACK_BAD_CREDENTIALS 0x04
#define HF_CONNACK_NOT_AUTHORIZED  0x05

/* MQTT 5.0 reason codes (section 2.4). */
#define HF_RC_SUCCESS                     0x00
#define HF_RC_NORMAL_DISCONNECT           0x00
#define HF_RC_GRANTED_QOS0                0x00
#define HF_RC_GRANTED_QOS1                0x01
#define HF_RC_GRANTED_QOS2                0x02
#define HF_RC_DISCONNECT_WITH_WILL        0x04
#define HF_RC_NO_MATCHING_SUBSCRIBERS     0x10
#define HF_RC_NO_SUBSCRIPTION_EXISTED     0x11
#define HF_RC_CONTINUE_AUTH               0x18
#define HF_RC_REAUTHENTICATE              0x19
#define HF_RC_UNSPECIFIED                 0x80
#define HF_RC_MALFORMED                   0x81
#define HF_RC_PROTOCOL_ERROR              0x82
#define HF_RC_IMPL_SPECIFIC               0x83
#define HF_RC_UNSUPPORTED_PROTOCOL        0x84
#define HF_RC_CLIENT_ID_INVALID           0x85
#define HF_RC_BAD_USER_OR_PASSWORD        0x86
#define HF_RC_NOT_AUTHORIZED              0x87
#define HF_RC_SERVER_UNAVAILABLE          0x88
#define HF_RC_SERVER_BUSY                 0x89
#define HF_RC_BANNED                      0x8A
#define HF_RC_SERVER_SHUTTING_DOWN        0x8B
#define HF_RC_BAD_AUTH_METHOD             0x8C
#define HF_RC_KEEP_ALIVE_TIMEOUT          0x8D
#define HF_RC_SESSION_TAKEN_OVER          0x8E
#define HF_RC_TOPIC_FILTER_INVALID        0x8F
#define HF_RC_TOPIC_NAME_INVALID          0x90
#define HF_RC_PACKET_ID_IN_USE            0x91
#define HF_RC_PACKET_ID_NOT_FOUND         0x92
#define HF_RC_RECEIVE_MAX_EXCEEDED        0x93
#define HF_RC_TOPIC_ALIAS_INVALID         0x94
#define HF_RC_PACKET_TOO_LARGE            0x95
#define HF_RC_MESSAGE_RATE_TOO_HIGH       0x96
#define HF_RC_QUOTA_EXCEEDED              0x97
#define HF_RC_ADMIN_ACTION                0x98
#define HF_RC_PAYLOAD_FORMAT_INVALID      0x99
#define HF_RC_RETAIN_NOT_SUPPORTED        0x9A
#define HF_RC_QOS_NOT_SUPPORTED           0x9B
#define HF_RC_USE_ANOTHER_SERVER          0x9C
#define HF_RC_SERVER_MOVED                0x9D
#define HF_RC_SHARED_SUBS_NOT_SUPPORTED   0x9E
#define HF_RC_CONNECTION_RATE_EXCEEDED    0x9F
#define HF_RC_MAX_CONNECT_TIME            0xA0
#define HF_RC_SUB_IDS_NOT_SUPPORTED       0xA1
#define HF_RC_WILDCARD_SUBS_NOT_SUPPORTED 0xA2

/* MQTT 5.0 property identifiers (section 2.2.2.2). */
#define HF_PROP_PAYLOAD_FORMAT     0x01
#define HF_PROP_MESSAGE_EXPIRY     0x02
#define HF_PROP_CONTENT_TYPE       0x03
#define HF_PROP_RESPONSE_TOPIC     0x08
#define HF_PROP_CORRELATION_DATA   0x09
#define HF_PROP_SUBSCRIPTION_ID    0x0B
#define HF_PROP_SESSION_EXPIRY     0x11
#define HF_PROP_ASSIGNED_CLIENT_ID 0x12
#define HF_PROP_SERVER_KEEP_ALIVE  0x13
#define HF_PROP_AUTH_METHOD        0x15
#define HF_PROP_AUTH_DATA          0x16
#define HF_PROP_REQUEST_PROBLEM    0x17
#define HF_PROP_WILL_DELAY         0x18
#define HF_PROP_REQUEST_RESPONSE   0x19
#define HF_PROP_RESPONSE_INFO      0x1A
#define HF_PROP_SERVER_REFERENCE   0x1C
#define HF_PROP_REASON_STRING      0x1F
#define HF_PROP_RECEIVE_MAX        0x21
#define HF_PROP_TOPIC_ALIAS_MAX    0x22
#define HF_PROP_TOPIC_ALIAS        0x23
#define HF_PROP_MAXIMUM_QOS        0x24
#define HF_PROP_RETAIN_AVAILABLE   0x25
#define HF_PROP_USER_PROPERTY      0x26
#define HF_PROP_MAX_PACKET_SIZE    0x27
#define HF_PROP_WILDCARD_SUB_AVAIL 0x28
#define HF_PROP_SUB_ID_AVAIL       0x29
#define HF_PROP_SHARED_SUB_AVAIL   0x2A

/* Subscription options byte (v5 3.8.3.1; v3.1.1 uses the QoS bits only). */
#define HF_SUBOPT_QOS_MASK 0x03
#define HF_SUBOPT_NO_LOCAL 0x04
#define HF_SUBOPT_RAP      0x08 /* retain as published */
#define HF_SUBOPT_RH_SHIFT 4    /* retain handling, 2 bits */
#define HF_SUBOPT_RH_MASK  0x30

/* Limits. */
#define HF_MAX_VARINT        268435455u /* largest Remaining Length */
#define HF_MAX_PACKET_ID     65535u
#define HF_MAX_STRING        65535u
#define HF_MAX_SUB_ID        268435455u
#define HF_MAX_CLIENT_ID_LEN 65535u

#endif
