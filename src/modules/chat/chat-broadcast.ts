// Every chat turn, however it was asked for (JSON, SSE or a WebSocket frame), is published on its owner's channel
// (platform/websocket/owner-channels.ts), so that the owner's other sockets, on any instance, see the question and
// the answer arrive. The publishing never waits on the channel and never fails the turn.
import { mapError } from '../../platform/error-handler.js';
import type { OwnerChannels } from '../../platform/websocket/owner-channels.js';
import type { ChatEvent } from './chat.service.js';
import {
  mappedErrorFrame,
  messageReceivedFrame,
  streamChunkFrame,
  streamEndFrame,
  streamStartFrame,
} from './ws/chat-ws-frames.js';

/** What travels on a channel: the frame, and who asked (that socket has its frames already). */
export interface ChannelMessage {
  origin: string;
  frame: Record<string, unknown>;
}

/**
 * `turn`'s events, unchanged, publishing their frames as they pass. `origin` names the asker (a socket's id, or the
 * request id). A turn nobody listens to (the first publish reached no instance) publishes nothing more.
 */
export async function* broadcastTurn(
  turn: AsyncGenerator<ChatEvent>,
  channels: OwnerChannels,
  origin: string,
): AsyncGenerator<ChatEvent> {
  let owner: string | undefined;
  let sessionId: string | undefined;
  let listened = true;
  let ended = false;
  const publish = (frame: Record<string, unknown>) => {
    if (owner === undefined || !listened) return;
    return channels.publish(owner, JSON.stringify({ origin, frame } satisfies ChannelMessage));
  };
  try {
    for await (const event of turn) {
      if (event.type === 'start') {
        owner = event.ownerKey;
        sessionId = event.sessionId;
        void publish(messageReceivedFrame(event, new Date()))?.then((instances) => {
          if (instances === 0) listened = false;
        });
        void publish(streamStartFrame(event));
      } else if (event.type === 'token') {
        void publish(streamChunkFrame(sessionId ?? '', event.text));
      } else {
        ended = true;
        void publish(streamEndFrame(event));
      }
      yield event;
    }
  } catch (error) {
    ended = true;
    void publish(mappedErrorFrame(mapError(error), { session_id: sessionId }));
    throw error;
  } finally {
    if (!ended && owner !== undefined) {
      // The asker left (or a shutdown cut the turn): what was generated is stored as partial.
      void publish({
        type: 'error',
        message: 'The answer was cut short; what was generated is stored as partial',
        code: 'generation_interrupted',
        session_id: sessionId,
      });
    }
  }
}
