// Whether a byte stream is one JSON text (RFC 8259, as JSON.parse accepts it), checked chunk by chunk without
// building anything: an upload named .json is application/json only if it parses, and a JSON.parse of a 100 MB file
// would hold the file, its string and its object graph in memory at once. UTF-8 validity is checked elsewhere
// (content-inspection.ts); here every byte above 0x7F is simply a byte of a string.

// States. A number's states that may end the number are marked "complete".
const VALUE = 0; // a value is expected
const ARRAY_FIRST = 1; // after '[': a value or ']'
const OBJECT_FIRST = 2; // after '{': a key or '}'
const KEY = 3; // after ',' in an object: a key
const COLON = 4; // after a key
const AFTER = 5; // after a value inside a container: ',' or the container's end
const END = 6; // after the top-level value: whitespace only
const STRING = 7;
const ESCAPE = 8;
const UNICODE = 9;
const LITERAL = 10;
const MINUS = 11; // '-': a digit must follow
const ZERO = 12; // complete
const INT = 13; // complete
const DOT = 14; // '.': a digit must follow
const FRACTION = 15; // complete
const EXPONENT_MARK = 16; // 'e': a sign or digit must follow
const EXPONENT_SIGN = 17; // a digit must follow
const EXPONENT = 18; // complete
const INVALID = 19;

/** Deeper nesting than this is taken as not JSON (JSON.parse would accept it; nothing sane needs it). */
export const MAX_JSON_DEPTH = 100_000;

const LITERALS = { t: 'rue', f: 'alse', n: 'ull' } as const;

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

function isHex(byte: number): boolean {
  return isDigit(byte) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);
}

const OBJECT = 1;
const ARRAY = 0;

export class JsonSyntaxChecker {
  #state = VALUE;
  /** The open containers, innermost last: OBJECT or ARRAY. */
  #stack = new Uint8Array(64);
  #depth = 0;
  #stringIsKey = false;
  #hexLeft = 0;
  #literal = '';
  #literalAt = 0;

  /** False once the bytes so far cannot start a JSON text; push() then does nothing. */
  get viable(): boolean {
    return this.#state !== INVALID;
  }

  push(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length && this.#state !== INVALID; i++) {
      if (this.#state === STRING) {
        // The common case, kept tight: plain string bytes.
        while (i < chunk.length) {
          const b = chunk[i] as number;
          if (b === 0x22 || b === 0x5c || b < 0x20) break;
          i++;
        }
        if (i === chunk.length) return;
      }
      this.#step(chunk[i] as number);
    }
  }

  /** Whether the bytes pushed are exactly one JSON text (surrounded by whitespace at most). */
  end(): boolean {
    const state = this.#state;
    if (this.#depth === 0 && (state === ZERO || state === INT || state === FRACTION || state === EXPONENT))
      return true;
    return state === END;
  }

  #step(byte: number): void {
    switch (this.#state) {
      case VALUE:
      case ARRAY_FIRST:
        if (isWhitespace(byte)) return;
        if (byte === 0x5d && this.#state === ARRAY_FIRST) return this.#close(ARRAY);
        return this.#startValue(byte);
      case OBJECT_FIRST:
        if (isWhitespace(byte)) return;
        if (byte === 0x7d) return this.#close(OBJECT);
        return this.#startKey(byte);
      case KEY:
        if (isWhitespace(byte)) return;
        return this.#startKey(byte);
      case COLON:
        if (isWhitespace(byte)) return;
        this.#state = byte === 0x3a ? VALUE : INVALID;
        return;
      case AFTER:
        if (isWhitespace(byte)) return;
        if (byte === 0x2c) {
          this.#state = this.#top() === OBJECT ? KEY : VALUE;
          return;
        }
        if (byte === 0x5d) return this.#close(ARRAY);
        if (byte === 0x7d) return this.#close(OBJECT);
        this.#state = INVALID;
        return;
      case END:
        if (!isWhitespace(byte)) this.#state = INVALID;
        return;
      case STRING:
        if (byte === 0x22) {
          if (this.#stringIsKey) this.#state = COLON;
          else this.#valueDone();
        } else if (byte === 0x5c) this.#state = ESCAPE;
        else if (byte < 0x20) this.#state = INVALID;
        return;
      case ESCAPE:
        if (byte === 0x75) {
          this.#state = UNICODE;
          this.#hexLeft = 4;
        } else {
          // " \ / b f n r t
          this.#state = [0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74].includes(byte) ? STRING : INVALID;
        }
        return;
      case UNICODE:
        if (!isHex(byte)) this.#state = INVALID;
        else if (--this.#hexLeft === 0) this.#state = STRING;
        return;
      case LITERAL:
        if (byte !== this.#literal.charCodeAt(this.#literalAt)) this.#state = INVALID;
        else if (++this.#literalAt === this.#literal.length) this.#valueDone();
        return;
      case MINUS:
        this.#state = byte === 0x30 ? ZERO : isDigit(byte) ? INT : INVALID;
        return;
      case ZERO:
        if (byte === 0x2e) this.#state = DOT;
        else if (byte === 0x65 || byte === 0x45) this.#state = EXPONENT_MARK;
        else this.#endNumber(byte);
        return;
      case INT:
        if (isDigit(byte)) return;
        if (byte === 0x2e) this.#state = DOT;
        else if (byte === 0x65 || byte === 0x45) this.#state = EXPONENT_MARK;
        else this.#endNumber(byte);
        return;
      case DOT:
        this.#state = isDigit(byte) ? FRACTION : INVALID;
        return;
      case FRACTION:
        if (isDigit(byte)) return;
        if (byte === 0x65 || byte === 0x45) this.#state = EXPONENT_MARK;
        else this.#endNumber(byte);
        return;
      case EXPONENT_MARK:
        this.#state = byte === 0x2b || byte === 0x2d ? EXPONENT_SIGN : isDigit(byte) ? EXPONENT : INVALID;
        return;
      case EXPONENT_SIGN:
        this.#state = isDigit(byte) ? EXPONENT : INVALID;
        return;
      case EXPONENT:
        if (!isDigit(byte)) this.#endNumber(byte);
        return;
      default:
        this.#state = INVALID;
    }
  }

  #startValue(byte: number): void {
    switch (byte) {
      case 0x7b: // {
        return this.#open(OBJECT, OBJECT_FIRST);
      case 0x5b: // [
        return this.#open(ARRAY, ARRAY_FIRST);
      case 0x22: // "
        this.#stringIsKey = false;
        this.#state = STRING;
        return;
      case 0x2d: // -
        this.#state = MINUS;
        return;
      case 0x30:
        this.#state = ZERO;
        return;
      case 0x74: // t
      case 0x66: // f
      case 0x6e: // n
        this.#literal = LITERALS[String.fromCharCode(byte) as keyof typeof LITERALS];
        this.#literalAt = 0;
        this.#state = LITERAL;
        return;
      default:
        this.#state = isDigit(byte) ? INT : INVALID;
    }
  }

  #startKey(byte: number): void {
    if (byte !== 0x22) {
      this.#state = INVALID;
      return;
    }
    this.#stringIsKey = true;
    this.#state = STRING;
  }

  #open(kind: number, state: number): void {
    if (this.#depth >= MAX_JSON_DEPTH) {
      this.#state = INVALID;
      return;
    }
    if (this.#depth === this.#stack.length) {
      const grown = new Uint8Array(this.#stack.length * 2);
      grown.set(this.#stack);
      this.#stack = grown;
    }
    this.#stack[this.#depth++] = kind;
    this.#state = state;
  }

  #close(kind: number): void {
    if (this.#depth === 0 || this.#top() !== kind) {
      this.#state = INVALID;
      return;
    }
    this.#depth--;
    this.#valueDone();
  }

  #top(): number | undefined {
    return this.#stack[this.#depth - 1];
  }

  #valueDone(): void {
    this.#state = this.#depth === 0 ? END : AFTER;
  }

  /** A number ended at `byte`, which belongs to what follows it. */
  #endNumber(byte: number): void {
    this.#valueDone();
    this.#step(byte);
  }
}

/** Whether `bytes` are one JSON text; for tests and small inputs. */
export function isJsonText(bytes: Uint8Array): boolean {
  const checker = new JsonSyntaxChecker();
  checker.push(bytes);
  return checker.end();
}
