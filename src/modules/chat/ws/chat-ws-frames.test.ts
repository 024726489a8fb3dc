import { describe, expect, it } from 'vitest';
import { createFrameParser } from './chat-ws-frames.js';

const parse = createFrameParser(4096);

describe('the chat WebSocket frame parser', () => {
  it('reads a frame without a type as a chat, as the original', () => {
    expect(parse('{"message":"hi","stream":false}')).toEqual({
      type: 'chat',
      body: { message: 'hi', stream: false },
    });
  });

  it('accepts and ignores fields it does not know', () => {
    expect(parse('{"type":"ping","extra":1}')).toEqual({ type: 'ping' });
  });

  it.each([
    ['{', 'invalid_json', 'Invalid JSON'],
    ['"text"', 'invalid_frame', 'A frame must be a JSON object'],
    ['{"type":"chat"}', 'empty_message', 'No message provided'],
    ['{"type":"chat","message":null}', 'empty_message', 'No message provided'],
    ['{"message":"hi","max_tokens":4097}', 'invalid_frame', 'max_tokens: must be <= 4096'],
    ['{"message":"hi","temperature":-1}', 'invalid_frame', 'temperature: must be >= 0'],
    ['{"type":"get_history","limit":0}', 'invalid_frame', 'limit: must be >= 1'],
    ['{"type":"auth","token":""}', 'invalid_frame', 'token: must not have fewer than 1 characters'],
    ['{"type":"__proto__"}', 'unknown_type', 'Unknown frame type "__proto__"'],
    ['{"type":["chat"]}', 'unknown_type', 'type: must be a string'],
  ])('answers %s with an error frame %s', (text, code, message) => {
    const frame = parse(text);
    expect(frame.type).toBe('invalid');
    if (frame.type !== 'invalid') return;
    expect(frame.error).toMatchObject({ type: 'error', code });
    expect(frame.error.message).toBe(message);
  });

  it('cuts a long unknown type in its message', () => {
    const frame = parse(JSON.stringify({ type: 'x'.repeat(10_000) }));
    expect(frame.type === 'invalid' && frame.error.message.length).toBeLessThan(100);
  });
});
