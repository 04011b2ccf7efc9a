#!/usr/bin/env python3
"""Writes the seed corpus (fuzz/corpus/<harness>/) from real inputs: valid and near-valid ones.

Run from anywhere: python3 fuzz/make_seeds.py. Seeds are small on purpose (the fuzzer mutates
them); the formats follow each harness's header comment. App and experiment seeds are also
copied from the repository's own examples (examples/, policies/lab/experiments/)."""
import os
import shutil
import struct

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.path.join(root, "fuzz", "corpus")


def put(harness, name, data):
    d = os.path.join(corpus, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# -- http_request: [body limit / 8][capacity / 8] raw request bytes ----------------------------
lim = bytes([128, 64])  # body limit 1024, buffer 512
put("http_request", "post_hello", lim + b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello spry")
put("http_request", "post_topic", lim + b"POST /hello/a/b?x=1 HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi")
put("http_request", "chunked", lim + b"POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
put("http_request", "too_large", bytes([2, 64]) + b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 100)
put("http_request", "chunked_too_large", bytes([2, 1]) + b"PUT /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + b"y" * 64 + b"\r\n0\r\n\r\n")
put("http_request", "wrong_method", lim + b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
put("http_request", "not_found", lim + b"DELETE /nope HTTP/1.1\r\nHost: x\r\n\r\n")
put("http_request", "healthz_pipelined", lim + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\nHEAD /status HTTP/1.1\r\nHost: x\r\n\r\n")
put("http_request", "admin", lim + b"POST /admin/adapters/cloudevents?library=%2Ftmp%2Flib.so&x=a+b HTTP/1.1\r\nHost: x\r\n\r\n")
put("http_request", "expect_continue", lim + b"POST /a/b/c/d HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\nCE-Id: 1\r\n\r\nabc")
put("http_request", "bad_header", lim + b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
put("http_request", "http10", lim + b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
put("http_request", "absolute_form", lim + b"POST http://127.0.0.1:8080/hello/a?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 2\r\n\r\nhi")
put("http_request", "no_host", lim + b"POST /hello HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")

# -- cloudevents: [flags][capacity / 16][status] content type / topic, headers, empty line, body
ev = b'{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/json","data":{"a":1}}'
put("cloudevents", "structured", bytes([0, 64, 0]) + b"application/cloudevents+json\n\n" + ev)
put("cloudevents", "structured_charset", bytes([0, 64, 0x10]) + b"application/cloudevents+json; charset=utf-8\n\n" + ev)
put("cloudevents", "binary_json", bytes([0, 64, 0x20]) + b"application/json\nce-specversion: 1.0\nce-id: 42\nce-source: /sensors\nce-type: org.example.reading\nce-subject: s1\n\n{\"t\":21.5}")
put("cloudevents", "binary_text", bytes([0, 64, 1]) + b"text/plain\nCE-SpecVersion: 1.0\nCE-Id: x\nCE-Source: s\nCE-Type: t\n\nhello")
put("cloudevents", "binary_octets", bytes([0, 64, 2]) + b"application/octet-stream\nce-specversion: 1.0\nce-id: x\nce-source: s\nce-type: t\n\n\x00\x01\xff")
put("cloudevents", "binary_missing_id", bytes([0, 64, 0]) + b"application/json\nce-specversion: 1.0\nce-source: s\nce-type: t\n\n{}")
put("cloudevents", "structured_base64", bytes([0, 64, 0x30]) + b"application/cloudevents+json\n\n" + b'{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"aGVsbG8="}')
put("cloudevents", "not_an_event", bytes([0, 64, 0]) + b"application/json\n\n{\"a\":1}")
put("cloudevents", "small_buffer", bytes([0, 2, 0]) + b"application/cloudevents+json\n\n" + ev)
put("cloudevents", "mqtt_structured", bytes([1, 64, 0]) + b"sensors/kitchen\n\n" + ev)
put("cloudevents", "mqtt_json", bytes([1, 64, 0]) + b"sensors/kitchen\n\n{\"motion\":true}")
put("cloudevents", "mqtt_text", bytes([1, 64, 0]) + b"sensors/hall\n\nplain text \xc3\xa9")
put("cloudevents", "mqtt_binary", bytes([1, 64, 0]) + b"sensors/hall\n\n\xff\xfe\x00")

# -- mqtt_json: [capacity / 16] filter, topic, reply template, payload ------------------------
put("mqtt_json", "object", bytes([64]) + b"sensors/+/motion\nsensors/kitchen/motion\nreplies/{1}/{topic}\n{\"motion\":true,\"ts\":1}")
put("mqtt_json", "hash", bytes([64]) + b"sensors/#\nsensors\nr/{2}\n{\"a\":[1,2,{\"b\":null}]}")
put("mqtt_json", "array", bytes([64]) + b"a/b\na/b\n\n[1,2]")
put("mqtt_json", "not_json", bytes([64]) + b"+/+\n$SYS/x\n{9}{\nnot json")
put("mqtt_json", "empty", bytes([64]) + b"#\na//b\n{topic}\n")
put("mqtt_json", "small_buffer", bytes([1]) + b"x\nx\nx\n{\"k\":\"" + b"v" * 40 + b"\"}")
put("mqtt_json", "unicode", bytes([64]) + b"t\nt\nt\n{\"s\":\"\\u00e9\\ud83d\\ude00\"}")

# -- app_config: app files from the repository and near-valid variants -------------------------
for rel in ["examples/hello/hello.yaml", "examples/parking/parking.yaml",
            "examples/online-boutique/online-boutique.yaml", "examples/motion-detection/motion.yaml"]:
    p = os.path.join(root, rel)
    if os.path.exists(p):
        os.makedirs(os.path.join(corpus, "app_config"), exist_ok=True)
        shutil.copy(p, os.path.join(corpus, "app_config", os.path.basename(p)))
put("app_config", "minimal.yaml", "app: a\nfunctions:\n  - { name: f, handler: lib.f }\nchains:\n  - { name: c, http: { method: POST, path: /c }, functions: [f] }\n")
put("app_config", "routes.yaml", """app: r
transport: tcp
gateway: { listen: 127.0.0.1:0, body_limit: 1MiB, header_timeout: 10s }
functions:
  - { name: a, handler: l.a, min_instances: 2, concurrency: 4 }
  - { name: b, handler: l.b }
chains:
  - name: c
    http: { method: POST, path: /c }
    head: a
    routes:
      - { from: a, topic: x, to: b }
      - { from: a, topic: "*", to: end }
      - { from: b, topic: "*", to: end }
    pool: { buffers: 16, buffer_size: 4KiB }
    timeout: 250ms
""")
put("app_config", "bad_size.yaml", "app: a\nfunctions:\n  - { name: f, handler: lib.f }\nchains:\n  - { name: c, http: { path: /c }, functions: [f], pool: { buffer_size: 99999999999999999999KiB } }\n")
put("app_config", "mqtt.yaml", """app: m
functions: [ { name: f, handler: l.f } ]
chains: [ { name: c, http: { path: /c }, functions: [f] } ]
adapters: [ { name: mqtt-json, library: libspry_adapter_mqtt_json.so } ]
mqtt:
  broker: tcp://127.0.0.1:1883
  subscriptions:
    - { filter: "sensors/+/motion", chain: c, qos: 1, adapter: mqtt-json, reply_topic: "r/{1}" }
""")

# -- descriptor: 256-byte header, 64 payload bytes, 16-byte descriptors -------------------------
def header(request_id=0x1234, length=5, chain=0, status=0, http_status=0, topic=b"", ct=b""):
    h = struct.pack("<QQQQIHHHHHHII", request_id, 1, 2, 3, length, chain, 0, status, http_status, 0, 0, 0, 0)
    h += struct.pack("<Q", 0)  # home_offset
    h += topic.ljust(64, b"\0") + ct.ljust(64, b"\0") + b"\0" * 64
    assert len(h) == 256, len(h)
    return h


def desc(dst=0, pool=0, tag=0x1234, offset=0):
    return struct.pack("<IHHQ", dst, pool, tag, offset)


payload = b"hello".ljust(64, b"\0")
put("descriptor", "valid", header() + payload + desc())
put("descriptor", "valid_then_release_twice", header() + payload + desc(dst=1) + desc(dst=1) + desc())
put("descriptor", "stale_tag", header() + payload + desc(tag=7))
put("descriptor", "unknown_pool", header() + payload + desc(pool=9))
put("descriptor", "offset_outside", header() + payload + desc(offset=1 << 40) + desc(offset=8))
put("descriptor", "corrupt_length", header(length=0xFFFFFFFF) + payload + desc())
put("descriptor", "error_status", header(status=1, http_status=418, topic=b"t", ct=b"text/plain") + payload + desc())
put("descriptor", "overloaded", header(status=3) + payload + desc() + desc(dst=1))
put("descriptor", "bad_http_status", header(http_status=999) + payload + desc())
put("descriptor", "unterminated_fields", header(topic=b"t" * 64, ct=b"c" * 64) + payload + desc())

# -- tcp_envelope: msgpack frames (encoded here as transports/tcp/envelope.cpp does) -----------
def mp_uint(v):
    if v < 128: return bytes([v])
    if v < 256: return b"\xcc" + bytes([v])
    if v < 65536: return b"\xcd" + struct.pack(">H", v)
    if v < 2**32: return b"\xce" + struct.pack(">I", v)
    return b"\xcf" + struct.pack(">Q", v)


def mp_str(s):
    return (bytes([0xa0 | len(s)]) if len(s) < 32 else b"\xd9" + bytes([len(s)])) + s


def mp_bin(b):
    return (b"\xc4" + bytes([len(b)])) if len(b) < 256 else (b"\xc5" + struct.pack(">H", len(b))) + b


def envelope(version=2, dst=3, chain=0, rid=77, topic=b"a/b", ct=b"text/plain", payload=b"hello", fields=None,
             failed_at=0):
    vals = [version, dst, chain, rid, 1, 0, 0, 2, 0, 5, 10, 20, 30, 4096]
    body = (b"".join(mp_uint(v) for v in vals) + mp_str(topic) + mp_str(ct) + mp_bin(payload) +
            mp_uint(failed_at))
    n = fields if fields is not None else 18
    return bytes([0x90 | n]) + body if n < 16 else b"\xdc" + struct.pack(">H", n) + body


put("tcp_envelope", "valid", envelope())
put("tcp_envelope", "empty_payload", envelope(payload=b"", topic=b"", ct=b""))
put("tcp_envelope", "big_ids", envelope(dst=2**32 - 1, rid=2**64 - 1))
put("tcp_envelope", "long_topic", envelope(topic=b"t" * 65))
put("tcp_envelope", "undelivered", envelope(failed_at=4))
put("tcp_envelope", "bad_version", envelope(version=1))
put("tcp_envelope", "too_few_fields", envelope(fields=17))
put("tcp_envelope", "payload_too_large", envelope(payload=b"x" * 1100))
put("tcp_envelope", "chain_out_of_range", envelope(chain=70000))

# -- control_channel: [read size - 1] length-prefixed msgpack frames --------------------------
def frame(body):
    return struct.pack(">I", len(body)) + body


def mp_arr(items):
    return bytes([0x90 | len(items)]) + b"".join(items)


ready = frame(mp_arr([mp_str(b"ready"), mp_uint(5), mp_str(b"127.0.0.1:4000")]))
peers = frame(mp_arr([mp_str(b"peers"), mp_arr([mp_arr([mp_uint(1), mp_str(b"127.0.0.1:1")]), mp_arr([mp_uint(2), mp_str(b"/run/x.sock")])])]))
directory = frame(mp_arr([mp_str(b"directory"), mp_arr([mp_arr([mp_uint(1), mp_uint(2)]), mp_arr([])]), mp_uint(9)]))
applied = frame(mp_arr([mp_str(b"applied"), mp_uint(9)]))
stop = frame(mp_arr([mp_str(b"stop")]))
put("control_channel", "all_kinds", bytes([255]) + ready + peers + directory + applied + stop)
put("control_channel", "bytewise", bytes([0]) + ready + stop)
put("control_channel", "chunks_of_7", bytes([6]) + peers + directory)
put("control_channel", "unknown_kind", bytes([255]) + frame(mp_arr([mp_str(b"reboot")])))
put("control_channel", "wrong_arity", bytes([255]) + frame(mp_arr([mp_str(b"ready"), mp_uint(5)])))
put("control_channel", "huge_length", bytes([255]) + struct.pack(">I", (1 << 20) + 1))
put("control_channel", "not_array", bytes([255]) + frame(mp_str(b"stop")))
put("control_channel", "endpoint_overflow", bytes([255]) + frame(mp_arr([mp_str(b"ready"), mp_uint(2**40), mp_str(b"x")])))

# -- lab_experiment: the repository's experiments and small near-valid ones ---------------------
os.makedirs(os.path.join(corpus, "lab_experiment"), exist_ok=True)
exp_dir = os.path.join(root, "policies", "lab", "experiments")
for f in sorted(os.listdir(exp_dir)):
    if f.endswith(".yaml"):
        shutil.copy(os.path.join(exp_dir, f), os.path.join(corpus, "lab_experiment", f))
put("lab_experiment", "small.yaml", """name: small
duration_s: 10
seeds: [1]
cluster: { nodes: [ { count: 2, cpu: 4, memory_mb: 4096 } ] }
policies:
  - { name: rr, load_balancer: round_robin, autoscaler: { name: fixed, params: { instances: 1 } }, placement: spread }
workloads:
  - { name: p, kind: poisson, functions: 2, rate: 10 }
""")
put("lab_experiment", "unknown_policy.yaml", """name: bad
duration_s: 10
cluster: { nodes: [ { count: 1, cpu: 1, memory_mb: 1 } ] }
policies: [ { name: x, load_balancer: nope } ]
workloads: [ { name: p, kind: poisson, functions: 1, rate: 1 } ]
""")
put("lab_experiment", "onoff.yaml", """name: onoff
duration_s: 60
seeds: [1, 2]
cluster: { nodes: [ { count: 1, cpu: 2, memory_mb: 2048, speed: 0.5 } ] }
function_defaults: { cpu: 1, memory_mb: 128, concurrency: 2, slo_ms: 100, service: { distribution: exponential, mean_ms: 5 } }
policies: [ { name: kpa, load_balancer: least_connections, autoscaler: kpa, placement: spread } ]
workloads: [ { name: b, kind: on_off, functions: 1, rate_on: 50, rate_off: 5, on_s: 2, off_s: 3 } ]
claims: [ { name: c, metric: p99_ms, policy: kpa, below: 100 } ]
""")


# -- mqtt_packet: [read size - 1] the byte stream a broker sends the gateway -------------------
def mqtt_length(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def mqtt_publish(topic, payload, qos, packet_id=1, dup=False):
    body = struct.pack(">H", len(topic)) + topic + (struct.pack(">H", packet_id) if qos else b"") + payload
    return bytes([0x30 | (0x08 if dup else 0) | (qos << 1)]) + mqtt_length(len(body)) + body


connack, suback, pingresp = b"\x20\x02\x01\x00", b"\x90\x03\x00\x01\x01", b"\xd0\x00"
put("mqtt_packet", "session", b"\x07" + connack + suback + mqtt_publish(b"rooms/1/motion", b'{"motion":true}', 1, 7)
    + mqtt_publish(b"a", b"x", 0) + pingresp)
put("mqtt_packet", "bytewise", b"\x00" + mqtt_publish(b"sensors/t", b"21.5", 1, 65535, dup=True))
put("mqtt_packet", "large", b"\xff" + mqtt_publish(b"big", b"y" * 300, 0))


# MQTT 5 (the harness reads every stream as 3.1.1 and as 5): packets with properties.
def mqtt5_str(s):
    return struct.pack(">H", len(s)) + s


def mqtt5_props(*props):
    body = b"".join(props)
    return mqtt_length(len(body)) + body


def mqtt5_publish(topic, payload, qos, packet_id, props, dup=False):
    body = mqtt5_str(topic) + (struct.pack(">H", packet_id) if qos else b"") + props + payload
    return bytes([0x30 | (0x08 if dup else 0) | (qos << 1)]) + mqtt_length(len(body)) + body


def mqtt5_packet(first, body):
    return bytes([first]) + mqtt_length(len(body)) + body


user = lambda k, v: b"\x26" + mqtt5_str(k) + mqtt5_str(v)
connack5 = mqtt5_packet(0x20, b"\x01\x00" + mqtt5_props(b"\x21\x00\x14", b"\x27\x00\x10\x00\x00",
                                                       b"\x24\x01", b"\x13\x00\x3c",
                                                       b"\x1f" + mqtt5_str(b"welcome")))
suback5 = mqtt5_packet(0x90, b"\x00\x01" + mqtt5_props() + b"\x01\x97")
binary_event = mqtt5_publish(b"sensors/kitchen/motion", b'{"sensor":7,"state":"on"}', 1, 9,
                             mqtt5_props(b"\x03" + mqtt5_str(b"application/json"),
                                         user(b"specversion", b"1.0"), user(b"id", b"ev-1"),
                                         user(b"source", b"urn:s"), user(b"type", b"t.motion")))
put("mqtt_packet", "v5_session", b"\x07" + connack5 + suback5 + binary_event
    + mqtt5_publish(b"a", b"x", 0, 0, mqtt5_props()) + pingresp
    + mqtt5_packet(0x40, b"\x00\x02\x87" + mqtt5_props(b"\x1f" + mqtt5_str(b"not authorized")))
    + mqtt5_packet(0xe0, b"\x8e" + mqtt5_props(b"\x1f" + mqtt5_str(b"taken over"))))
put("mqtt_packet", "v5_bytewise", b"\x00" + binary_event)
put("mqtt_packet", "v5_duplicate_property", b"\x10" + mqtt5_publish(
    b"t", b"p", 1, 3, mqtt5_props(b"\x03" + mqtt5_str(b"a"), b"\x03" + mqtt5_str(b"b"))))
put("mqtt_packet", "v5_bad_varint", b"\x10" + mqtt5_publish(b"t", b"p", 0, 0, b"\x80\x80\x80\x80\x01"))
