// Shapes of /api/v1/chat: the original's (reference §4.2), with message ids, usage, status and keyset cursors added.
import { Type, type Static } from 'typebox';
import { Cursor, OffsetQuery } from '../../platform/pagination.js';
import { AGENT_ID_PATTERN } from '../agents/index.js';
import { MODEL_PATTERN } from '../llm/index.js';

/** The original accepted any string; ids are kept to what fits a URL path segment and the column. */
export const SESSION_ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$';

const Render = Type.Literal('html', {
  description: 'html: each message also comes as content_html, its markdown rendered (raw HTML off).',
});

/** The most files a chat turn may name. */
export const MAX_CHAT_FILES = 20;

export const ChatFiles = Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
  maxItems: MAX_CHAT_FILES,
  description:
    'Answer over these files of yours (ids from /api/v1/files): their best passages go into the context and the answer carries them as `sources`. 404 for a file that is not yours, 409 for one not indexed yet.',
});

const UseFiles = Type.Boolean({ description: 'true: answer over every indexed file of yours (as `files`).' });

export function chatMessageBody(maxTokens: number) {
  return Type.Object({
    message: Type.String({
      description:
        'Kept as typed (only control characters and lone surrogates are cleaned); blank or over ' +
        'CHAT_MAX_MESSAGE_CHARS is a 400.',
    }),
    user_id: Type.Optional(
      Type.Union([Type.String(), Type.Null()], { description: 'Ignored (as the original).' }),
    ),
    session_id: Type.Optional(
      Type.Union([Type.String({ pattern: SESSION_ID_PATTERN }), Type.Null()], {
        description: 'Continue this session (yours), or start one with this id; a new UUID when absent.',
      }),
    ),
    render: Type.Optional(Type.Union([Render, Type.Null()])),
    model: Type.Optional(Type.Union([Type.String({ pattern: MODEL_PATTERN }), Type.Null()])),
    agent: Type.Optional(
      Type.Union([Type.String({ pattern: AGENT_ID_PATTERN }), Type.Null()], {
        description:
          'Chat through this agent: its model, system prompt and defaults where the request gives none; a session keeps the agent it was created with.',
      }),
    ),
    files: Type.Optional(Type.Union([ChatFiles, Type.Null()])),
    use_files: Type.Optional(Type.Union([UseFiles, Type.Null()])),
    stream: Type.Optional(Type.Union([Type.Boolean(), Type.Null()], { description: 'true: answer as SSE.' })),
    temperature: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 2 }), Type.Null()])),
    max_tokens: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: maxTokens }), Type.Null()])),
  });
}

export type ChatMessageBody = Static<ReturnType<typeof chatMessageBody>>;

const ContentHtml = Type.Optional(Type.String({ description: 'With render=html: the content as HTML.' }));

const Usage = Type.Object({
  prompt_tokens: Type.Union([Type.Integer(), Type.Null()]),
  completion_tokens: Type.Union([Type.Integer(), Type.Null()]),
});

const Sources = Type.Union(
  [
    Type.Array(
      Type.Object({
        file_id: Type.String(),
        name: Type.String(),
        chunk: Type.Integer({ description: 'The passage’s number in its file, from 0.' }),
        score: Type.Number({ description: 'Cosine similarity of the passage to the question.' }),
        excerpt: Type.String({ description: 'The passage’s first 300 characters.' }),
      }),
    ),
    Type.Null(),
  ],
  {
    description:
      'The passages of your files the answer was given (cite numbers [n] follow this order); null when the turn named no files.',
  },
);

export const ChatResponse = Type.Object({
  response: Type.String(),
  session_id: Type.String(),
  model: Type.String(),
  status: Type.Literal('success'),
  timestamp: Type.String(),
  response_time: Type.Number({ description: 'Seconds.' }),
  message_id: Type.Integer(),
  usage: Usage,
  sources: Sources,
  content_html: ContentHtml,
});

export const SessionIdParams = Type.Object({ session_id: Type.String({ pattern: SESSION_ID_PATTERN }) });

export const ChatMessageItem = Type.Object({
  id: Type.Integer(),
  role: Type.String(),
  content: Type.String(),
  timestamp: Type.String(),
  model: Type.Union([Type.String(), Type.Null()]),
  status: Type.String({ description: 'complete, partial (the stream broke or the client left) or error.' }),
  error: Type.Union([Type.String(), Type.Null()]),
  usage: Usage,
  sources: Sources,
  content_html: ContentHtml,
});

export const SessionMessagesQuery = Type.Object({
  ...OffsetQuery.properties,
  cursor: Type.Optional(Cursor),
  render: Type.Optional(Render),
});

export const SessionMessagesPage = Type.Object({
  session_id: Type.String(),
  title: Type.Union([Type.String(), Type.Null()]),
  messages: Type.Array(ChatMessageItem),
  total: Type.Integer(),
  skip: Type.Integer(),
  limit: Type.Integer(),
  has_more: Type.Boolean(),
  page: Type.Integer(),
  total_pages: Type.Integer(),
  created_at: Type.Union([Type.String(), Type.Null()]),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});

export const SessionSummary = Type.Object({
  session_id: Type.String(),
  title: Type.Union([Type.String(), Type.Null()]),
  model: Type.String(),
  agent: Type.Union([Type.String(), Type.Null()], { description: 'The agent the session chats through.' }),
  message_count: Type.Integer(),
  created_at: Type.String(),
  last_activity: Type.String(),
});

export const SessionList = Type.Object({
  items: Type.Array(SessionSummary),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
  has_more: Type.Boolean(),
});

export const RenameBody = Type.Object({ title: Type.String({ minLength: 1, maxLength: 400 }) });

export const SessionCleared = Type.Object({
  status: Type.Literal('success'),
  message: Type.String(),
  messages_deleted: Type.Integer(),
});
