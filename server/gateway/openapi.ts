// Copyright mb authors. MIT license.

import { VERSION } from "../version.ts";
import { HTTP_ROUTES, type HttpRoute } from "./_http_routes.ts";

/** Options for {@linkcode openApiDocument}. */
export interface OpenApiOptions {
  /**
   * Whether requests need `Authorization: Bearer <token>`.
   *
   * @default {false}
   */
  auth?: boolean;
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad request: TOPIC_INVALID, INVALID_ARGUMENT, HEADERS_INVALID, OFFSET_OUT_OF_RANGE",
  401: "AUTH_FAILED: missing or wrong bearer token",
  404: "STREAM_UNKNOWN, QUEUE_UNKNOWN, MESSAGE_UNKNOWN, or NOT_FOUND (no such route)",
  405: "METHOD_NOT_ALLOWED: the path exists for other methods (see `Allow`)",
  409: "ALREADY_EXISTS: a stream or queue of that name has another configuration",
  413: "PAYLOAD_TOO_LARGE: the body is over the broker's maxPayloadBytes",
  500: "STORAGE_FAILED or INTERNAL",
  503: "NO_RESPONDERS (a confirmed request no one subscribes to) or SERVER_SHUTDOWN",
  507: "STORAGE_FULL: the store's disk quota is reached",
};

const STRING_MAP = { type: "object", additionalProperties: { type: "string" } };

const MESSAGE_PROPERTIES = {
  topic: { type: "string" },
  replyTo: { type: "string", description: "Present when the message has one" },
  payload: { type: "string", description: "The payload as UTF-8 text, when it is valid UTF-8" },
  payloadBase64: {
    type: "string",
    description: "The payload in base64, when it is not UTF-8 or `encoding=base64`",
  },
  headers: STRING_MAP,
};

const SCHEMAS: Record<string, unknown> = {
  Error: {
    type: "object",
    properties: {
      error: {
        type: "object",
        properties: {
          code: { type: "string", description: "A stable mb error code, e.g. TOPIC_INVALID" },
          message: { type: "string" },
        },
        required: ["code", "message"],
      },
    },
    required: ["error"],
  },
  PublishResult: {
    type: "object",
    properties: {
      offset: { type: "integer", description: "The stream offset it was stored at" },
      stream: { type: "string", description: "The stream that stored it first" },
    },
  },
  Message: {
    type: "object",
    properties: MESSAGE_PROPERTIES,
    required: ["topic", "headers"],
  },
  StreamMessage: {
    type: "object",
    properties: {
      offset: { type: "integer" },
      timestamp: { type: "integer" },
      ...MESSAGE_PROPERTIES,
    },
    required: ["offset", "timestamp", "topic", "headers"],
  },
  QueueMessage: {
    type: "object",
    properties: {
      id: { type: "integer", description: "What ack and nack name" },
      deliveryCount: { type: "integer", description: "Deliveries so far, this one included" },
      timestamp: { type: "integer" },
      ...MESSAGE_PROPERTIES,
    },
    required: ["id", "deliveryCount", "timestamp", "topic", "headers"],
  },
  StreamConfig: {
    type: "object",
    properties: {
      name: { type: "string" },
      topics: { type: "array", items: { type: "string" }, minItems: 1 },
      maxMsgs: { type: "integer", minimum: 0 },
      maxBytes: { type: "integer", minimum: 0 },
      maxAgeMs: { type: "integer", minimum: 0 },
    },
    required: ["name", "topics"],
  },
  StreamInfo: {
    allOf: [
      { $ref: "#/components/schemas/StreamConfig" },
      {
        type: "object",
        properties: {
          messages: { type: "integer" },
          bytes: { type: "integer" },
          firstOffset: { type: "integer" },
          nextOffset: { type: "integer" },
          readers: { type: "integer" },
        },
      },
    ],
  },
  QueueSettings: {
    type: "object",
    properties: {
      topics: { type: "array", items: { type: "string" } },
      ackWaitMs: { type: "integer", minimum: 1, default: 30000 },
      maxDeliver: { type: "integer", minimum: 1, default: 5 },
      deadLetter: { type: "string" },
      maxBytes: { type: "integer", minimum: 0 },
    },
  },
  QueueInfo: {
    allOf: [
      { $ref: "#/components/schemas/QueueSettings" },
      {
        type: "object",
        properties: {
          name: { type: "string" },
          messages: { type: "integer" },
          inFlight: { type: "integer" },
          consumers: { type: "integer" },
          deadLettered: { type: "integer" },
        },
      },
    ],
  },
  Deleted: { type: "object", properties: { deleted: { const: true } } },
  Purged: { type: "object", properties: { purged: { type: "integer" } } },
  FetchRequest: {
    type: "object",
    properties: {
      max: { type: "integer", minimum: 1, maximum: 1000 },
      waitMs: { type: "integer", minimum: 0 },
      encoding: { type: "string", enum: ["text", "base64", "raw"] },
    },
  },
  AckRequest: {
    type: "object",
    properties: { id: { type: "integer" } },
    required: ["id"],
  },
  NackRequest: {
    type: "object",
    properties: { id: { type: "integer" }, delayMs: { type: "integer", minimum: 0 } },
    required: ["id"],
  },
};

/**
 * The OpenAPI 3.1 document of mb's HTTP API, made from the same route table
 * the server dispatches on (served at `GET /v1/openapi.json`).
 *
 * @param options Whether the broker asks for a token.
 * @returns The document, as a JSON-ready object.
 *
 * @example
 * ```ts
 * import { openApiDocument } from "./openapi.ts";
 * import assert from "node:assert/strict";
 *
 * const doc = openApiDocument() as { openapi: string; paths: Record<string, unknown> };
 * assert.equal(doc.openapi, "3.1.0");
 * assert.ok("/v1/topics/{topic}" in doc.paths);
 * ```
 */
export function openApiDocument(options: OpenApiOptions = {}): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of HTTP_ROUTES) {
    paths[route.path] ??= {};
    paths[route.path][route.method.toLowerCase()] = operation(route, options.auth === true);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "mb HTTP API",
      version: VERSION,
      description: "Publish, subscribe (Server-Sent Events), read streams, work queues and " +
        "administration of an mb broker. Answers are JSON; errors are " +
        '`{ "error": { "code", "message" } }` with a stable code.',
    },
    tags: [
      { name: "messages", description: "Publish and subscribe" },
      { name: "streams", description: "Durable, replayable logs" },
      { name: "queues", description: "Acknowledged work queues" },
      { name: "meta", description: "About the API" },
    ],
    paths,
    components: {
      schemas: SCHEMAS,
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    },
    security: options.auth === true ? [{ bearer: [] }] : [],
  };
}

function operation(route: HttpRoute, auth: boolean): Record<string, unknown> {
  const responses: Record<string, unknown> = {
    [String(route.status)]: {
      description: route.response.description,
      content: { [route.response.contentType]: { schema: route.response.schema } },
    },
  };
  if (route.raw === true) {
    const content = (responses[String(route.status)] as { content: Record<string, unknown> })
      .content;
    content["application/octet-stream"] = {
      schema: { type: "string", contentMediaType: "application/octet-stream" },
    };
    responses["204"] = { description: "No message (with `encoding=raw`)" };
  }
  if (route.operationId === "publish") {
    responses["202"] = {
      description: "Accepted (without `confirm`)",
      content: { "application/json": { schema: { type: "object" } } },
    };
  }
  const errors = auth && route.public !== true ? [401, ...route.errors] : route.errors;
  for (const status of errors) {
    responses[String(status)] = {
      description: STATUS_TEXT[status] ?? "Error",
      content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
    };
  }
  const op: Record<string, unknown> = {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    parameters: route.parameters.map((p) => ({
      name: p.name,
      in: p.in,
      description: p.description,
      required: p.required ?? false,
      schema: p.schema,
    })),
    responses,
  };
  if (route.description !== undefined) op.description = route.description;
  if (route.requestBody !== undefined) {
    op.requestBody = {
      description: route.requestBody.description,
      required: route.requestBody.required ?? false,
      content: { [route.requestBody.contentType]: { schema: route.requestBody.schema } },
    };
  }
  if (route.public === true) op.security = [];
  return op;
}
