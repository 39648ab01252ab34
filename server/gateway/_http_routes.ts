// Copyright mb authors. MIT license.
// The route table of the HTTP API. The dispatcher (http_api.ts) and the
// OpenAPI document (openapi.ts) are both made from it, so what the server
// answers and what it documents cannot drift apart.

/** The operations of the HTTP API; each route names one, and each has one handler. */
export type HttpOperationId =
  | "publish"
  | "subscribe"
  | "listStreams"
  | "createStream"
  | "getStream"
  | "deleteStream"
  | "purgeStream"
  | "readStream"
  | "listQueues"
  | "declareQueue"
  | "getQueue"
  | "deleteQueue"
  | "purgeQueue"
  | "sendToQueue"
  | "fetchFromQueue"
  | "ackMessage"
  | "nackMessage"
  | "openApi";

/** HTTP methods the API uses. */
export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

/** A documented parameter (JSON Schema in `schema`). */
export interface HttpParameter {
  name: string;
  in: "path" | "query" | "header";
  description: string;
  required?: boolean;
  schema: Record<string, unknown>;
}

/** A documented request or response body. */
export interface HttpBody {
  contentType: string;
  description: string;
  schema: Record<string, unknown>;
  required?: boolean;
}

/** One route: method, path template, documentation. */
export interface HttpRoute {
  method: HttpMethod;
  /** OpenAPI path template; `{name}` matches one segment. */
  path: string;
  /** The last parameter takes the rest of the path (several segments). */
  greedy?: boolean;
  operationId: HttpOperationId;
  tag: "messages" | "streams" | "queues" | "meta";
  summary: string;
  description?: string;
  parameters: HttpParameter[];
  requestBody?: HttpBody;
  /** The success answer. */
  status: number;
  response: HttpBody;
  /** Error statuses it may answer (besides 401, which every protected route may). */
  errors: number[];
  /** Answered without the bearer token. */
  public?: boolean;
  /** Also answers one message as raw bytes (`encoding=raw`), or 204 when there is none. */
  raw?: boolean;
}

function ref(name: string): Record<string, unknown> {
  return { $ref: `#/components/schemas/${name}` };
}

function json(description: string, schema: Record<string, unknown>): HttpBody {
  return { contentType: "application/json", description, schema };
}

const NAME_PARAM = (what: string): HttpParameter => ({
  name: "name",
  in: "path",
  required: true,
  description: `The ${what}'s name (1 to 128 of A-Z a-z 0-9 _ - ., not starting with '.')`,
  schema: { type: "string" },
});

const ENCODING_PARAM = (raw: boolean): HttpParameter => ({
  name: "encoding",
  in: "query",
  description: raw
    ? "`text` (default): `payload` as UTF-8 text, `payloadBase64` when the bytes are not UTF-8; " +
      "`base64`: always `payloadBase64`; `raw`: the first message's payload as the response body " +
      "(also chosen by `Accept: application/octet-stream`)"
    : "`text` (default): `payload` as UTF-8 text, `payloadBase64` when the bytes are not UTF-8; " +
      "`base64`: always `payloadBase64`",
  schema: { type: "string", enum: raw ? ["text", "base64", "raw"] : ["text", "base64"] },
});

const MESSAGE_HEADERS_NOTE =
  "Message headers travel as `mb-header-<name>: <value>` request headers (names lowercase).";

const PAYLOAD_BODY: HttpBody = {
  contentType: "application/octet-stream",
  description: "The payload: the body's bytes as they are (any content type)",
  schema: { type: "string", contentMediaType: "application/octet-stream" },
};

const RAW_NOTE = "With `encoding=raw` (or `Accept: application/octet-stream`) the answer is " +
  "the first message's payload as bytes, its fields in `mb-*` response headers, or 204 when there is none.";

/** Every route of the HTTP API. */
export const HTTP_ROUTES: readonly HttpRoute[] = [
  {
    method: "POST",
    path: "/v1/topics/{topic}",
    greedy: true,
    operationId: "publish",
    tag: "messages",
    summary: "Publish a message",
    description: "Publishes the body to a topic, like a native publish: delivered to every " +
      "matching subscription and stored by every stream and queue that captures the topic. " +
      MESSAGE_HEADERS_NOTE,
    parameters: [
      {
        name: "topic",
        in: "path",
        required: true,
        description: "The topic: the rest of the path (`sensors/kitchen`), each level " +
          "percent-decoded. Topics starting with `$` are refused.",
        schema: { type: "string" },
      },
      {
        name: "confirm",
        in: "query",
        description: "Answer once stored, with the stream offset (200) instead of at once (202)",
        schema: { type: "boolean" },
      },
      {
        name: "reply_to",
        in: "query",
        description: "The reply-to topic of a request",
        schema: { type: "string" },
      },
    ],
    requestBody: PAYLOAD_BODY,
    status: 200,
    response: json(
      "With `confirm`: `{ offset, stream }` when a stream stored it, `{}` when none did. " +
        "Without: 202 and `{}`.",
      ref("PublishResult"),
    ),
    errors: [400, 413, 500, 503, 507],
  },
  {
    method: "GET",
    path: "/v1/subscribe",
    operationId: "subscribe",
    tag: "messages",
    summary: "Subscribe as Server-Sent Events",
    description: "Each message is an SSE event `message` whose data is a JSON message; comment " +
      "lines keep the connection open. With `stream`, reads that stream from `from` and then " +
      "live, each event with `id: <offset>`; a `Last-Event-ID` header resumes after that offset. " +
      "A client that does not keep up is a slow consumer: its messages are dropped or it is " +
      "disconnected after an `error` event (stream reads are paused instead).",
    parameters: [
      {
        name: "pattern",
        in: "query",
        description: "Topic pattern (`+` one level, `#` the rest); required without `stream`, " +
          "a filter with it",
        schema: { type: "string" },
      },
      {
        name: "queue",
        in: "query",
        description: "Queue group: one member of the group gets each message",
        schema: { type: "string" },
      },
      {
        name: "stream",
        in: "query",
        description: "Read this stream instead of live messages",
        schema: { type: "string" },
      },
      {
        name: "from",
        in: "query",
        description:
          "With `stream`: an offset, `first`, `last`, `new` (default) or an ISO 8601 date",
        schema: { type: "string" },
      },
      ENCODING_PARAM(false),
      {
        name: "Last-Event-ID",
        in: "header",
        description: "With `stream`: resume after this offset (browsers send it when reconnecting)",
        schema: { type: "string" },
      },
    ],
    status: 200,
    response: {
      contentType: "text/event-stream",
      description: "`event: message` with `data: <Message JSON>` (plus `id: <offset>` for " +
        "streams); `event: error` with `data: { code, message }` before a slow consumer is cut off",
      schema: { type: "string" },
    },
    errors: [400, 404],
  },
  {
    method: "GET",
    path: "/v1/streams",
    operationId: "listStreams",
    tag: "streams",
    summary: "List streams",
    parameters: [],
    status: 200,
    response: json("Every stream", {
      type: "object",
      properties: { streams: { type: "array", items: ref("StreamInfo") } },
      required: ["streams"],
    }),
    errors: [],
  },
  {
    method: "POST",
    path: "/v1/streams",
    operationId: "createStream",
    tag: "streams",
    summary: "Create a stream",
    description:
      "Creates a stream, or answers the existing one when its configuration is the same.",
    parameters: [],
    requestBody: { ...json("The stream", ref("StreamConfig")), required: true },
    status: 200,
    response: json("The stream", ref("StreamInfo")),
    errors: [400, 409, 413, 500, 507],
  },
  {
    method: "GET",
    path: "/v1/streams/{name}",
    operationId: "getStream",
    tag: "streams",
    summary: "Describe a stream",
    parameters: [NAME_PARAM("stream")],
    status: 200,
    response: json("The stream", ref("StreamInfo")),
    errors: [404],
  },
  {
    method: "DELETE",
    path: "/v1/streams/{name}",
    operationId: "deleteStream",
    tag: "streams",
    summary: "Delete a stream and its messages",
    parameters: [NAME_PARAM("stream")],
    status: 200,
    response: json("Deleted", ref("Deleted")),
    errors: [404, 500],
  },
  {
    method: "POST",
    path: "/v1/streams/{name}/purge",
    operationId: "purgeStream",
    tag: "streams",
    summary: "Remove every message of a stream (offsets keep counting)",
    parameters: [NAME_PARAM("stream")],
    status: 200,
    response: json("How many were removed", ref("Purged")),
    errors: [404, 500],
  },
  {
    method: "GET",
    path: "/v1/streams/{name}/messages",
    operationId: "readStream",
    raw: true,
    tag: "streams",
    summary: "Read a page of a stream",
    description: "Up to `max` messages from `from` (at most about 1 MiB), and the offset to " +
      "ask for next. " + RAW_NOTE,
    parameters: [
      NAME_PARAM("stream"),
      {
        name: "from",
        in: "query",
        description: "An offset, `first` (default), `last`, `new` or an ISO 8601 date",
        schema: { type: "string" },
      },
      {
        name: "max",
        in: "query",
        description: "Most messages, 1 to 1000",
        schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
      },
      {
        name: "pattern",
        in: "query",
        description: "Only messages whose topic matches",
        schema: { type: "string" },
      },
      ENCODING_PARAM(true),
    ],
    status: 200,
    response: json("The page", {
      type: "object",
      properties: {
        messages: { type: "array", items: ref("StreamMessage") },
        nextOffset: { type: "integer" },
      },
      required: ["messages", "nextOffset"],
    }),
    errors: [400, 404],
  },
  {
    method: "GET",
    path: "/v1/queues",
    operationId: "listQueues",
    tag: "queues",
    summary: "List queues",
    parameters: [],
    status: 200,
    response: json("Every queue", {
      type: "object",
      properties: { queues: { type: "array", items: ref("QueueInfo") } },
      required: ["queues"],
    }),
    errors: [],
  },
  {
    method: "PUT",
    path: "/v1/queues/{name}",
    operationId: "declareQueue",
    tag: "queues",
    summary: "Declare a queue",
    description: "Creates the queue, or updates the settings given (messages stay). " +
      "An empty body declares it with the defaults.",
    parameters: [NAME_PARAM("queue")],
    requestBody: json("Settings (`name` comes from the path)", ref("QueueSettings")),
    status: 200,
    response: json("The queue", ref("QueueInfo")),
    errors: [400, 409, 413, 500, 507],
  },
  {
    method: "GET",
    path: "/v1/queues/{name}",
    operationId: "getQueue",
    tag: "queues",
    summary: "Describe a queue",
    parameters: [NAME_PARAM("queue")],
    status: 200,
    response: json("The queue", ref("QueueInfo")),
    errors: [404],
  },
  {
    method: "DELETE",
    path: "/v1/queues/{name}",
    operationId: "deleteQueue",
    tag: "queues",
    summary: "Delete a queue and its messages",
    parameters: [NAME_PARAM("queue")],
    status: 200,
    response: json("Deleted", ref("Deleted")),
    errors: [404, 500],
  },
  {
    method: "POST",
    path: "/v1/queues/{name}/purge",
    operationId: "purgeQueue",
    tag: "queues",
    summary: "Remove every waiting message of a queue",
    parameters: [NAME_PARAM("queue")],
    status: 200,
    response: json("How many were removed", ref("Purged")),
    errors: [404, 500],
  },
  {
    method: "POST",
    path: "/v1/queues/{name}/messages",
    operationId: "sendToQueue",
    tag: "queues",
    summary: "Send a message to a queue",
    description: "Answers once the message is stored. " + MESSAGE_HEADERS_NOTE,
    parameters: [
      NAME_PARAM("queue"),
      {
        name: "topic",
        in: "query",
        description: "The message's topic (default: the queue's name)",
        schema: { type: "string" },
      },
      {
        name: "reply_to",
        in: "query",
        description: "The message's reply-to topic",
        schema: { type: "string" },
      },
    ],
    requestBody: PAYLOAD_BODY,
    status: 200,
    response: json("The message's id", {
      type: "object",
      properties: { id: { type: "integer" } },
      required: ["id"],
    }),
    errors: [400, 404, 413, 500, 507],
  },
  {
    method: "POST",
    path: "/v1/queues/{name}/fetch",
    operationId: "fetchFromQueue",
    raw: true,
    tag: "queues",
    summary: "Fetch messages from a queue (long poll)",
    description: "Takes up to `max` messages, waiting up to `waitMs` for the first. They stay in " +
      "flight until acked or nacked (by any HTTP request) and are delivered again after the " +
      "queue's `ackWaitMs`. `max`, `waitMs` and `encoding` come from a JSON body or the query. " +
      RAW_NOTE,
    parameters: [
      NAME_PARAM("queue"),
      {
        name: "max",
        in: "query",
        description: "Most messages, 1 to 1000",
        schema: { type: "integer", minimum: 1, maximum: 1000, default: 1 },
      },
      {
        name: "waitMs",
        in: "query",
        description: "How long to wait for a first message (0: answer at once)",
        schema: { type: "integer", minimum: 0, default: 0 },
      },
      ENCODING_PARAM(true),
    ],
    requestBody: json("`{ max, waitMs }`, optional", ref("FetchRequest")),
    status: 200,
    response: json("The messages, possibly none", {
      type: "object",
      properties: { messages: { type: "array", items: ref("QueueMessage") } },
      required: ["messages"],
    }),
    errors: [400, 404],
  },
  {
    method: "POST",
    path: "/v1/queues/{name}/ack",
    operationId: "ackMessage",
    tag: "queues",
    summary: "Acknowledge a fetched message",
    description: "The message is done and removed. `id` comes from a JSON body or the query.",
    parameters: [
      NAME_PARAM("queue"),
      { name: "id", in: "query", description: "The message's id", schema: { type: "integer" } },
    ],
    requestBody: json("`{ id }`", ref("AckRequest")),
    status: 200,
    response: json("Settled", { type: "object" }),
    errors: [400, 404, 500],
  },
  {
    method: "POST",
    path: "/v1/queues/{name}/nack",
    operationId: "nackMessage",
    tag: "queues",
    summary: "Give a fetched message back",
    description: "The message is delivered again after `delayMs` (or, after the queue's " +
      "`maxDeliver` deliveries, goes to its dead-letter queue). `id` and `delayMs` come from a " +
      "JSON body or the query.",
    parameters: [
      NAME_PARAM("queue"),
      { name: "id", in: "query", description: "The message's id", schema: { type: "integer" } },
      {
        name: "delayMs",
        in: "query",
        description: "Wait before redelivery",
        schema: { type: "integer", minimum: 0, default: 0 },
      },
    ],
    requestBody: json("`{ id, delayMs }`", ref("NackRequest")),
    status: 200,
    response: json("Settled", { type: "object" }),
    errors: [400, 404, 500],
  },
  {
    method: "GET",
    path: "/v1/openapi.json",
    operationId: "openApi",
    tag: "meta",
    summary: "This API's OpenAPI 3.1 document",
    parameters: [],
    status: 200,
    response: json("The document", { type: "object" }),
    errors: [],
    public: true,
  },
];
