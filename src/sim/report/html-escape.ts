// Getting text, data and scripts into an HTML page without letting any of them end the element
// they sit in.

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for element content or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]!);
}

/**
 * JSON for a <script type="application/json"> element. A "</script>" (or "<!--") inside a string
 * would end the element early, so every "<" is written as the JSON escape \u003c, which JSON.parse
 * reads back as "<". U+2028 and U+2029 are escaped too, for any reader that evaluates it as script.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * Source for an inline <script>. Inside JavaScript strings, regular expressions and comments "<\/"
 * means the same as "</", so the rewrite keeps the code's meaning while no "</script" can close
 * the element.
 */
export function scriptForInline(source: string): string {
  return source.replace(/<\/(script)/gi, '<\\/$1');
}

/** Source for an inline <style>: the same hazard with "</style". */
export function styleForInline(source: string): string {
  return source.replace(/<\/(style)/gi, '<\\/$1');
}
