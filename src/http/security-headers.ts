/**
 * The security headers of the docs page and its assets: written out once instead of being rebuilt
 * per request (helmet re-parses its options on every request). They are, name for name and byte for
 * byte, what helmet 8 sends with its defaults plus this service's CSP and a same-site CORP (helmet
 * also removed X-Powered-By, which Fastify never sets).
 */
const securityHeaders: ReadonlyArray<readonly [name: string, value: string]> = [
  [
    'Content-Security-Policy',
    [
      // A JSON API plus one docs page (Swagger UI: own scripts, inline styles, data: images).
      "default-src 'self'",
      "base-uri 'self'",
      "font-src 'self' https: data:",
      "form-action 'self'",
      "frame-ancestors 'none'",
      "img-src 'self' data:",
      "object-src 'none'",
      "script-src 'self'",
      "script-src-attr 'none'",
      "style-src 'self' 'unsafe-inline'",
      // No upgrade-insecure-requests: served over plain HTTP on internal networks (TLS ends at the
      // proxy), upgrading the docs page's requests to https would break it.
    ].join(';'),
  ],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-site'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'SAMEORIGIN'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/**
 * The security headers of a document a browser renders (the docs page and its assets), for
 * `reply.headers()` in the first onRequest hook: onto the reply's own headers, which Fastify
 * hands to writeHead in one go, so a route's own reply.header() still takes precedence. (Node's
 * setHeader, as helmet uses, checks and stores each header separately, a measurable cost for
 * twelve.) Errors Fastify raises before routing (a malformed URL) run no hooks and so get none.
 */
export const documentSecurityHeaders: Readonly<Record<string, string>> = Object.fromEntries(securityHeaders);

/**
 * The security headers of everything else: JSON (and the metrics' text) that no browser renders
 * as a page. OWASP's REST Security Cheat Sheet's set for APIs: nothing may be loaded or framed
 * (`default-src 'none'; frame-ancestors 'none'`, X-Frame-Options for older browsers), no type
 * sniffing, HTTPS only. helmet's other eight protect rendered documents (prefetching, downloads
 * in IE8, Flash and PDF policies, window openers, the XSS auditor) and mean nothing on JSON; each
 * header costs every response (12 against 4: about 6 µs of a free-time request's HTTP work,
 * measured).
 */
export const apiSecurityHeaders: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'none';frame-ancestors 'none'",
  'Strict-Transport-Security': documentSecurityHeaders['Strict-Transport-Security']!,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
};

/** The docs page's routes (plugins/external/docs.ts): the only documents the service serves. */
export function isDocumentRoute(routeUrl: string | undefined): boolean {
  return routeUrl !== undefined && (routeUrl === '/docs' || routeUrl.startsWith('/docs/'));
}
