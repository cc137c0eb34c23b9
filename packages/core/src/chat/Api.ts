/**
 * The chat module's HTTP API, as the site's OpenAPI document (`/openapi.json`, `/docs`) shows it.
 * The routes are raw `HttpLayerRouter` routes (`Http.ts`: pooled under `maxConcurrentRequests`,
 * the events a server-sent stream); this description uses the same body and query Schemas they
 * decode with, and a test checks it against the routes a site really serves (`Routes.check`).
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import * as Answer from "../api/Answer.js"
import { Authentication } from "../api/SiteApi.js"
import { CreateBody, EditBody, MembersBody, MoveBody, Page, SendBody } from "./Http.js"
import { Group, Message } from "./Protocol.js"

const GroupPath = Schema.Struct({ id: Schema.String.annotations({ description: "the group's id (home.random)" }) })
const Moved = { from: Schema.String, to: Schema.String }

/**
 * @since 0.1.0
 * @category http
 */
export const Api = HttpApi.make("chat")
  .add(
    HttpApiGroup.make("chat")
      .add(
        HttpApiEndpoint.post("create", "/v1/chat/groups")
          .setPayload(CreateBody)
          .addSuccess(Group, { status: 201 })
          .annotate(OpenApi.Summary, "Create a group homed in `home` (default: the creator's home region)")
      )
      .add(
        HttpApiEndpoint.get("show", "/v1/chat/groups/:id")
          .setPath(GroupPath)
          .addSuccess(Group)
          .annotate(OpenApi.Summary, "A group, asked of its home region (members only)")
      )
      .add(
        HttpApiEndpoint.patch("edit", "/v1/chat/groups/:id")
          .setPath(GroupPath)
          .setPayload(EditBody)
          .addSuccess(Group)
          .annotate(OpenApi.Summary, "Change the name, notice or settings (the owner only)")
      )
      .add(
        HttpApiEndpoint.post("members", "/v1/chat/groups/:id/members")
          .setPath(GroupPath)
          .setPayload(MembersBody)
          .addSuccess(Group)
          .annotate(OpenApi.Summary, "Add and remove members (the owner only)")
      )
      .add(
        HttpApiEndpoint.post("send", "/v1/chat/groups/:id/messages")
          .setPath(GroupPath)
          .setPayload(SendBody)
          .addSuccess(Schema.Struct({ group: Schema.String, id: Schema.String, seq: Schema.Int }), { status: 201 })
          .addSuccess(Schema.Struct({ group: Schema.String, id: Schema.String, status: Schema.Literal("accepted") }), {
            status: 202
          })
          .annotate(
            OpenApi.Summary,
            "Send a message: 201 numbered by the group's home, or 202 accepted into the outbox while it does not answer"
          )
      )
      .add(
        HttpApiEndpoint.get("history", "/v1/chat/groups/:id/messages")
          .setPath(GroupPath)
          .setUrlParams(Page)
          .addSuccess(Schema.Struct({ group: Schema.String, messages: Schema.Array(Message), more: Schema.Boolean }))
          .annotate(OpenApi.Summary, "The messages after `after`, in the group's order (members only)")
      )
      .add(
        HttpApiEndpoint.get("events", "/v1/chat/groups/:id/events")
          .setPath(GroupPath)
          .setUrlParams(Page.pipe(Schema.pick("after")))
          .setHeaders(
            Schema.Struct({
              "last-event-id": Schema.optional(
                Schema.String.annotations({ description: "resume after this sequence number" })
              )
            })
          )
          .addSuccess(
            HttpApiSchema.Text({ contentType: "text/event-stream" }).annotations({
              description:
                "server-sent events: `event: message` with `id: SEQ` and the message as JSON data, " +
                "`event: error` when the stream ends on a failure, `: keep-alive` comments"
            })
          )
          .annotate(OpenApi.Summary, "The messages after `after`, then each as it arrives (server-sent events)")
      )
      .middleware(Authentication)
      .addError(Answer.ErrorBody, { status: 400 })
      .addError(Answer.ErrorBody, { status: 403 })
      .addError(Answer.ErrorBody, { status: 404 })
      .addError(Answer.ErrorBody, { status: 409 })
      .addError(Answer.ErrorBody, { status: 413 })
      .addError(Answer.ErrorBody, { status: 503 })
      .addError(Answer.ErrorBody, { status: 504 })
      .annotate(OpenApi.Description, "Groups homed in a region, their messages in order for every reader")
  )
  .add(
    HttpApiGroup.make("chat-admin")
      .add(
        HttpApiEndpoint.post("moveGroup", "/v1/chat/admin/groups/:id/move")
          .setPath(GroupPath)
          .setPayload(MoveBody)
          .addSuccess(Schema.Struct({ group: Schema.String, ...Moved }), { status: 202 })
          .annotate(OpenApi.Summary, "Move a group's home to another region (its messages and members go with it)")
      )
      .add(
        HttpApiEndpoint.post("moveUser", "/v1/chat/admin/users/:name/move")
          .setPath(Schema.Struct({ name: Schema.String }))
          .setPayload(MoveBody)
          .addSuccess(Schema.Struct({ user: Schema.String, ...Moved }), { status: 202 })
          .annotate(OpenApi.Summary, "Move a user's home region (the account and the user's messages go with it)")
      )
      .middleware(Authentication)
      .addError(Answer.ErrorBody, { status: 400 })
      .addError(Answer.ErrorBody, { status: 403 })
      .addError(Answer.ErrorBody, { status: 404 })
      .addError(Answer.ErrorBody, { status: 503 })
      .addError(Answer.ErrorBody, { status: 504 })
      .annotate(OpenApi.Description, "Operator moves (a token with the operator role)")
  )
  .annotate(OpenApi.Description, "Roaming group communication")
