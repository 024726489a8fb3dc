// XSS payloads the chat tests send as text, as users and models, and render with render=html.

/** The four the seed's security test names (it has 13 and lists only these). */
export const SEED_XSS_PAYLOADS = [
  `<script>alert('XSS')</script>`,
  `<img src=x onerror=alert('XSS')>`,
  `javascript:alert('XSS')`,
  `<svg onload=alert('XSS')>`,
];

/** The chat XSS suite's: tags with handlers, script URLs in tags and in markdown links, broken and nested markup. */
export const CHAT_XSS_PAYLOADS = [
  `<script>alert('XSS')</script>`,
  `<img src=x onerror=alert(1)>`,
  `<svg onload=alert(1)>`,
  `<iframe src="javascript:alert(1)">`,
  `<body onload=alert(1)>`,
  `<a href="javascript:alert(1)">x</a>`,
  `<div style="background:url(javascript:alert(1))">`,
  `"><script>alert(1)</script>`,
  `<IMG SRC=JaVaScRiPt:alert('XSS')>`,
  `<input autofocus onfocus=alert(1)>`,
  `<details open ontoggle=alert(1)>`,
  `<a href="java&#x09;script:alert(1)">x</a>`,
  `[x](javascript:alert(1))`,
  `<svg/onload=alert(1)>`,
  `<a href="&#106;avascript:alert(1)">x</a>`,
  `<scr<script>ipt>alert(1)</script>`,
  `<object data="javascript:alert(1)">`,
  `<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
  `<img src="x" onerror="alert(1)"`,
  `[x](&#106;avascript:alert(1))`,
  `[x]: javascript:alert(1)`,
];

/** Every payload above with one of < > & ' in it: an HTML-safe JSON body can never hold one as raw bytes. */
export const MARKUP_XSS_PAYLOADS = [...new Set([...SEED_XSS_PAYLOADS, ...CHAT_XSS_PAYLOADS])].filter(
  (payload) => /[<>&']/.test(payload),
);
