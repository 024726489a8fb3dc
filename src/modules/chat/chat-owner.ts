// Whose chat sessions a caller sees, and the error for a session it does not have. Built at the edge from the
// request (chat-anonymous-owner.ts) and shared by both services. Session ids are unique per owner only: the same id
// from two owners names two sessions, and no owner learns another's ids.
import { NotFoundError } from '../../platform/errors.js';

export interface ChatOwner {
  /** The signed-in user; null when anonymous. */
  userId: number | null;
  /** Whose the sessions this caller creates are: user:<id>, or anon:<cookie id> for an anonymous client. */
  ownerKey: string;
  /**
   * ip:<address> for an anonymous client that sent no valid cookie: it finds its sessions by its address, and the
   * sessions it creates carry that address too (so that it continues them without a cookie). Null otherwise.
   */
  ipKey: string | null;
}

export function userOwner(userId: number): ChatOwner {
  return { userId, ownerKey: `user:${userId}`, ipKey: null };
}

/** An anonymous client with a valid cookie (`ip` null), or without one (a fresh cookie id, and its address). */
export function anonymousOwner(cookieId: string, ip: string | null): ChatOwner {
  return { userId: null, ownerKey: `anon:${cookieId}`, ipKey: ip === null ? null : `ip:${ip}` };
}

/** The key the caller's sessions are found by: its address when it has no cookie, else its owner key. */
export function lookupKey(owner: ChatOwner): string {
  return owner.ipKey ?? owner.ownerKey;
}

export function sessionNotFound(id: string): NotFoundError {
  return new NotFoundError(`Session ${id} not found`, 'session_not_found');
}
