// The HTML the site's Markdown yields, made safe to serve: notebook prose is Markdown with raw
// HTML allowed (TypeDoc's markdown-it runs with `html: true`, and notebooks do use <details>,
// <img width>, tables, <b>), so a markdown cell holding `<script>`, `onerror=`, a `javascript:`
// link, an <iframe> or a <style> would otherwise end up live in the site. Jupyter never runs
// scripts from markdown either: it sanitizes the same way, by an allowlist.
//
// The allowlist is applied by sanitize-html (a parser-based, widely used sanitizer) to the HTML
// TypeDoc renders from every Markdown string (comments, documents, the home page), after
// markdown-it: so TypeDoc's own markup (heading anchors, highlighted code, alert icons) is
// listed too. Regexes over HTML miss the variants (`<img/src=x onerror=…>`, entity-encoded
// `javascript:`), a real parser does not.
import sanitizeHtml from 'sanitize-html';

const OPTIONS: sanitizeHtml.IOptions = {
  allowedTags: [
    ...sanitizeHtml.defaults.allowedTags,
    'img',
    'details',
    'summary',
    'del',
    'ins',
    'center',
    // TypeDoc's markup: a heading's anchor icon and an alert's icon (inline SVG referencing the
    // theme's icon sprite), the code blocks' copy button.
    'svg',
    'use',
    'button',
  ],
  allowedAttributes: {
    '*': ['class', 'id', 'title', 'align', 'lang', 'dir', 'aria-label', 'aria-hidden', 'role'],
    a: ['href', 'name', 'target', 'rel'],
    img: ['src', 'alt', 'width', 'height', 'loading'],
    td: ['colspan', 'rowspan', 'style'],
    th: ['colspan', 'rowspan', 'style'],
    ol: ['start', 'type'],
    details: ['open'],
    svg: ['viewBox', 'width', 'height', 'fill', 'xmlns'],
    use: ['href', 'xlink:href'],
    button: ['type'],
    p: ['style'],
    div: ['style'],
    span: ['style'],
  },
  // Only layout: no url(), no position tricks over the site's own controls.
  allowedStyles: {
    '*': {
      'text-align': [/^(left|right|center|justify)$/],
      color: [/^#[0-9a-f]{3,8}$/i, /^[a-z]+$/i, /^rgba?\([\d\s.,%]+\)$/],
      'font-weight': [/^(bold|normal|\d{3})$/],
    },
  },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: { img: ['http', 'https', 'data'] },
  allowedSchemesAppliedToAttributes: ['href', 'src', 'xlink:href', 'cite'],
  allowProtocolRelative: false,
  // A dropped element's text stays (an <iframe>'s fallback, a <font>'s words); script and style
  // contents go (sanitize-html's nonTextTags).
  disallowedTagsMode: 'discard',
};

/** `html` with everything outside the allowlist removed (see the file comment). */
export function sanitizeProse(html: string): string {
  return sanitizeHtml(html, OPTIONS);
}
