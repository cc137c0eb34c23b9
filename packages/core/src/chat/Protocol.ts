/**
 * The messages of roaming group communication. Three actors per region, all on the region's
 * *service center* site (its first site by name that runs `chat`):
 *
 * - `chat-center` — the service center's business center and data center: groups homed here,
 *   their sequence numbers, and the messages delivered to members homed here;
 * - `chat-data` — the roaming system's data service module: answers other regions' questions
 *   about groups homed here (where is it, read it, change it) from this region's data center;
 * - `chat-business` — the roaming system's business module: carries sends to a group's home
 *   region and deliveries to members' home regions, as durable messages.
 *
 * A service center only talks to its own roaming system; roaming systems talk pairwise, and the
 * kernel's router relays through a third region when the direct link is down.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Answer from "../api/Answer.js"
import * as Protocol from "../kernel/Protocol.js"

/**
 * @since 0.1.0
 * @category config
 */
export const CENTER = "chat-center"
/**
 * @since 0.1.0
 * @category config
 */
export const DATA = "chat-data"
/**
 * @since 0.1.0
 * @category config
 */
export const BUSINESS = "chat-business"

/**
 * A group id: the region that created it, a dot, and a random part (`north.k3J9x0aQ`). The
 * region is a hint for finding the home region when no region answers; the home can move.
 *
 * @since 0.1.0
 * @category schemas
 */
export const GroupId = Schema.String.pipe(Schema.pattern(/^[a-z0-9][a-z0-9-]{0,62}\.[A-Za-z0-9_-]{4,64}$/))

/**
 * @since 0.1.0
 * @category schemas
 */
export const Member = Schema.Struct({ user: Schema.String, home: Schema.String })
export type Member = typeof Member.Type

/**
 * A group as users see it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Group = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  notice: Schema.String,
  settings: Schema.Record({ key: Schema.String, value: Schema.String }),
  owner: Schema.String,
  home: Schema.String,
  members: Schema.Array(Member),
  /** The last sequence number assigned in the group. */
  seq: Schema.Int,
  createdAt: Schema.Number
})
export type Group = typeof Group.Type

/**
 * A group as its home data center keeps it: with, per region, the last sequence number sent
 * there (the `prev` of the next delivery, which keeps every region's copy in order), and how far
 * deliveries have been handed to the outbox.
 *
 * @since 0.1.0
 * @category schemas
 */
export const GroupRecord = Schema.Struct({
  ...Group.fields,
  chains: Schema.Record({ key: Schema.String, value: Schema.Int }),
  fanned: Schema.Int,
  movedTo: Schema.optional(Schema.String)
})
export type GroupRecord = typeof GroupRecord.Type

/**
 * A message of a group, numbered by the group's home region.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Message = Schema.Struct({
  group: Schema.String,
  seq: Schema.Int,
  id: Schema.String,
  from: Schema.String,
  text: Schema.String,
  at: Schema.Number
})
export type Message = typeof Message.Type

/**
 * A message as one region receives it: its recipients homed there, and `prev`, the sequence
 * number of the group's previous message sent to that region (0 for the first), so the region
 * releases its copies in order whatever order they arrive in.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Copy = Schema.Struct({
  message: Message,
  prev: Schema.Int,
  recipients: Schema.Array(Schema.String)
})
export type Copy = typeof Copy.Type

// ---- errors (on the wire) ---------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category errors
 */
export class GroupNotFound extends Schema.TaggedError<GroupNotFound>()(
  "GroupNotFound",
  { group: Schema.String },
  Answer.annotations({ status: 404 })
) {
  override get message() {
    return `no group ${this.group}`
  }
}

/**
 * The group's home is now another region: ask there.
 *
 * @since 0.1.0
 * @category errors
 */
export class GroupMoved extends Schema.TaggedError<GroupMoved>()(
  "GroupMoved",
  {
    group: Schema.String,
    to: Schema.String
  },
  Answer.annotations({ status: 409 })
) {
  override get message() {
    return `group ${this.group} moved to region ${this.to}`
  }
}

/**
 * @since 0.1.0
 * @category errors
 */
export class NotAMember extends Schema.TaggedError<NotAMember>()(
  "NotAMember",
  {
    group: Schema.String,
    user: Schema.String
  },
  Answer.annotations({ status: 403 })
) {
  override get message() {
    return `${this.user} is not a member of group ${this.group}`
  }
}

/**
 * @since 0.1.0
 * @category errors
 */
export class NotOwner extends Schema.TaggedError<NotOwner>()(
  "NotOwner",
  {
    group: Schema.String,
    user: Schema.String
  },
  Answer.annotations({ status: 403 })
) {
  override get message() {
    return `only the owner of group ${this.group} may do this`
  }
}

/**
 * The user's home is now another region (an operator moved them): read there.
 *
 * @since 0.1.0
 * @category errors
 */
export class UserMovedAway extends Schema.TaggedError<UserMovedAway>()("UserMovedAway", {
  user: Schema.String,
  to: Schema.String
}) {
  override get message() {
    return `${this.user} now lives in region ${this.to}`
  }
}

/**
 * A request the data center refuses as it stands (bad value, a bound reached).
 *
 * @since 0.1.0
 * @category errors
 */
export class ChatInvalid extends Schema.TaggedError<ChatInvalid>()(
  "ChatInvalid",
  { reason: Schema.String },
  Answer.annotations({ status: 400 })
) {
  override get message() {
    return this.reason
  }
}

/**
 * The service center cannot take the request now (its store or outbox is full): try later.
 *
 * @since 0.1.0
 * @category errors
 */
export class ChatBusy extends Schema.TaggedError<ChatBusy>()(
  "ChatBusy",
  { reason: Schema.String },
  Answer.annotations({ status: 503, headers: { "retry-after": "2" } })
) {
  override get message() {
    return `busy: ${this.reason}`
  }
}

const GroupErrors = Schema.Union(GroupNotFound, GroupMoved, NotAMember, NotOwner, ChatInvalid, ChatBusy)

// ---- requests ---------------------------------------------------------------------------------

/**
 * Ask: is the group homed here? `home` (here), `moved` (to `region`) or `unknown`.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Where extends Schema.TaggedRequest<Where>()("Where", {
  failure: Schema.Never,
  success: Schema.Struct({
    state: Schema.Literal("home", "moved", "unknown"),
    region: Schema.optional(Schema.String)
  }),
  payload: { group: Schema.String }
}) {}

/**
 * Ask (at the new group's home center): create it.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Create extends Schema.TaggedRequest<Create>()("Create", {
  failure: GroupErrors,
  success: Group,
  payload: {
    group: Schema.String,
    name: Schema.String,
    notice: Schema.String,
    settings: Schema.Record({ key: Schema.String, value: Schema.String }),
    owner: Member,
    members: Schema.Array(Member),
    at: Schema.Number
  }
}) {}

/**
 * Ask: the group's data, for one of its members.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Get extends Schema.TaggedRequest<Get>()("Get", {
  failure: GroupErrors,
  success: Group,
  payload: { group: Schema.String, user: Schema.String }
}) {}

/**
 * Ask: change name, notice or settings (owner only). A setting set to `""` is removed.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Edit extends Schema.TaggedRequest<Edit>()("Edit", {
  failure: GroupErrors,
  success: Group,
  payload: {
    group: Schema.String,
    user: Schema.String,
    name: Schema.optional(Schema.String),
    notice: Schema.optional(Schema.String),
    settings: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
  }
}) {}

/**
 * Ask: add and remove members (owner; a member may remove themselves). Added members come with
 * their home regions, looked up by the requesting region.
 *
 * @since 0.1.0
 * @category protocol
 */
export class ChangeMembers extends Schema.TaggedRequest<ChangeMembers>()("ChangeMembers", {
  failure: GroupErrors,
  success: Group,
  payload: {
    group: Schema.String,
    user: Schema.String,
    add: Schema.Array(Member),
    remove: Schema.Array(Schema.String)
  }
}) {}

/**
 * Ask (at the group's home): sequence a message and deliver it. Idempotent by `id`: the same id
 * again answers the sequence number it got the first time. `forwarded`: sent on by a region the
 * group moved away from (kept until the group's record arrives, if it has not yet).
 *
 * @since 0.1.0
 * @category protocol
 */
export class Send extends Schema.TaggedRequest<Send>()("Send", {
  failure: GroupErrors,
  success: Schema.Struct({ seq: Schema.Int }),
  payload: {
    group: Schema.String,
    id: Schema.String,
    from: Schema.String,
    text: Schema.String,
    at: Schema.Number,
    forwarded: Schema.optionalWith(Schema.Boolean, { default: () => false })
  }
}) {}

/**
 * Ask (at a member's home center): keep a delivered copy and release it in order. Idempotent.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Deliver extends Schema.TaggedRequest<Deliver>()("Deliver", {
  failure: ChatBusy,
  success: Schema.Void,
  payload: { copy: Copy }
}) {}

/**
 * Ask (at the user's home center): the messages of a group delivered to `user`, after `after`.
 *
 * @since 0.1.0
 * @category protocol
 */
export class History extends Schema.TaggedRequest<History>()("History", {
  failure: Schema.Union(ChatBusy, UserMovedAway),
  success: Schema.Struct({ messages: Schema.Array(Message), more: Schema.Boolean }),
  payload: {
    group: Schema.String,
    user: Schema.String,
    after: Schema.Int,
    limit: Schema.Int
  }
}) {}

/**
 * Ask (at the group's home, operator): move the group's home to `to`.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Move extends Schema.TaggedRequest<Move>()("Move", {
  failure: GroupErrors,
  success: Schema.Struct({ from: Schema.String, to: Schema.String }),
  payload: { group: Schema.String, to: Schema.String }
}) {}

/**
 * Ask (at the new home): take over a moved group, with the ids of its recent messages (so a
 * retried send is still recognised).
 *
 * @since 0.1.0
 * @category protocol
 */
export class Adopt extends Schema.TaggedRequest<Adopt>()("Adopt", {
  failure: ChatBusy,
  success: Schema.Void,
  payload: {
    record: GroupRecord,
    ids: Schema.Array(Schema.Tuple(Schema.String, Schema.Int))
  }
}) {}

/**
 * Ask (at every region's center, from its data service): `user`'s home moved from `from` to
 * `to` (move number `move`). Each center keeps the latest move it heard of; groups homed here
 * record the member's latest home, and a center that holds the user's messages but is not their
 * latest home hands them over (and sends on any that still arrive).
 *
 * @since 0.1.0
 * @category protocol
 */
export class MemberMoved extends Schema.TaggedRequest<MemberMoved>()("MemberMoved", {
  failure: ChatBusy,
  success: Schema.Void,
  payload: { user: Schema.String, from: Schema.String, to: Schema.String, move: Schema.Int }
}) {}

/**
 * Ask (at a user's new home center): copies of messages for `user`, handed over by the former
 * home. Idempotent.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Receive extends Schema.TaggedRequest<Receive>()("Receive", {
  failure: ChatBusy,
  success: Schema.Void,
  payload: { user: Schema.String, copies: Schema.Array(Copy) }
}) {}

/**
 * Tell (local, the center to itself): hand over copies still logged (after a restart, or once
 * the outbox has room again).
 *
 * @since 0.1.0
 * @category protocol
 */
export class Retry extends Schema.TaggedClass<Retry>()("Retry", {}) {}

/**
 * @since 0.1.0
 * @category protocol
 */
export const CenterProtocol = Protocol.make(
  "chat/center",
  1,
  Retry,
  Where,
  Create,
  Get,
  Edit,
  ChangeMembers,
  Send,
  Deliver,
  History,
  Move,
  Adopt,
  MemberMoved,
  Receive
)

/**
 * Tell (durable, to every region's data service): the group's home moved; drop cached homes.
 *
 * @since 0.1.0
 * @category protocol
 */
export class HomeMoved extends Schema.TaggedClass<HomeMoved>()("HomeMoved", {
  group: Schema.String,
  to: Schema.String
}) {}

/**
 * Tell (durable, to every region's data service): an operator moved `user`'s home.
 *
 * @since 0.1.0
 * @category protocol
 */
export class UserMoved extends Schema.TaggedClass<UserMoved>()("UserMoved", {
  user: Schema.String,
  from: Schema.String,
  to: Schema.String,
  /** The move's number (from the accounts arbiter): moves heard out of order are put in order. */
  move: Schema.Int
}) {}

/**
 * The data service answers other regions' lookups (`Where`), queries and stores of groups homed
 * here (`Create`, `Get`, `Edit`, `ChangeMembers`, `Move`) and `History` for users homed here, by
 * asking its own center.
 *
 * @since 0.1.0
 * @category protocol
 */
export const DataProtocol = Protocol.make(
  "chat/data",
  1,
  Where,
  HomeMoved,
  UserMoved,
  Create,
  Get,
  Edit,
  ChangeMembers,
  History,
  Move
)

/**
 * Tell (durable, business module to business module): a message for a group homed at the
 * receiving region, accepted elsewhere.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Submit extends Schema.TaggedClass<Submit>()("Submit", {
  group: Schema.String,
  id: Schema.String,
  from: Schema.String,
  text: Schema.String,
  at: Schema.Number,
  forwarded: Schema.optionalWith(Schema.Boolean, { default: () => false })
}) {}

/**
 * Tell (durable, home's business module to a member region's): a copy to deliver there.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Carry extends Schema.TaggedClass<Carry>()("Carry", { copy: Copy }) {}

/**
 * Tell (durable): a moved group's record for its new home.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Handover extends Schema.TaggedClass<Handover>()("Handover", {
  record: GroupRecord,
  ids: Schema.Array(Schema.Tuple(Schema.String, Schema.Int))
}) {}

/**
 * Tell (durable, former home's business module to the new home's): a moved user's copies.
 *
 * @since 0.1.0
 * @category protocol
 */
export class Transplant extends Schema.TaggedClass<Transplant>()("Transplant", {
  user: Schema.String,
  copies: Schema.Array(Copy)
}) {}

/**
 * The business module: `Send` (ask, when the home answers at once) and the durable `Submit`,
 * `Carry` and `Handover`.
 *
 * @since 0.1.0
 * @category protocol
 */
export const BusinessProtocol = Protocol.make("chat/business", 1, Send, Submit, Carry, Handover, Transplant)
