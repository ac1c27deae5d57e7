import t from 'tap';
import {
  apiSecurityHeaders,
  documentSecurityHeaders as securityHeaderValues,
  isDocumentRoute,
} from '../../../src/http/security-headers.js';

const csp = (securityHeaderValues['Content-Security-Policy'] ?? '').split(';');

t.test('the docs page’s CSP forbids framing it anywhere', async (t) => {
  t.ok(csp.includes("frame-ancestors 'none'"), csp.join(';'));
});

t.test('the CSP allows only own scripts and no plugins', async (t) => {
  t.ok(csp.includes("default-src 'self'"));
  t.ok(csp.includes("script-src 'self'"));
  t.ok(csp.includes("script-src-attr 'none'"));
  t.ok(csp.includes("object-src 'none'"));
});

t.test('the CSP does not upgrade requests to https (served over plain HTTP behind a TLS proxy)', async (t) => {
  t.notOk(csp.some((directive) => directive.startsWith('upgrade-insecure-requests')));
});

t.test('browsers must not sniff content types', async (t) => {
  t.equal(securityHeaderValues['X-Content-Type-Options'], 'nosniff');
});

t.test('the docs page’s other headers are the helmet defaults, same-site CORP', async (t) => {
  const { 'Content-Security-Policy': _, ...others } = securityHeaderValues;
  t.strictSame(others, {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-site',
    'Origin-Agent-Cluster': '?1',
    'Referrer-Policy': 'no-referrer',
    'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
    'X-Content-Type-Options': 'nosniff',
    'X-DNS-Prefetch-Control': 'off',
    'X-Download-Options': 'noopen',
    'X-Frame-Options': 'SAMEORIGIN',
    'X-Permitted-Cross-Domain-Policies': 'none',
    'X-XSS-Protection': '0',
  });
});

t.test('every header value is a valid field value (no line breaks, printable ASCII)', async (t) => {
  for (const [name, value] of Object.entries({ ...securityHeaderValues, ...apiSecurityHeaders })) {
    t.match(value, /^[\x20-\x7e]+$/, name);
  }
});

t.test('JSON responses get OWASP’s API set: nothing loaded or framed, no sniffing, HTTPS only', async (t) => {
  t.strictSame(apiSecurityHeaders, {
    'Content-Security-Policy': "default-src 'none';frame-ancestors 'none'",
    'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
  });
});

t.test('the docs page and its assets are documents; every other route and no route are not', async (t) => {
  for (const url of ['/docs', '/docs/', '/docs/static/*', '/docs/json']) t.ok(isDocumentRoute(url), url);
  for (const url of ['/orders', '/openapi.json', '/docsx', '/metrics', undefined])
    t.notOk(isDocumentRoute(url), String(url));
});
