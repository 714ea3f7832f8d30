import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeV3Uri, verifyHubSpot, type SignedRequest } from '../../../src/webhooks/hubspot-signature.ts';
import { decodeParagonSignature, verifyParagon } from '../../../src/webhooks/paragon-signature.ts';
import { alternativeUris, publicUri } from '../../../src/webhooks/public-url.ts';

// HubSpot's published v1 test vector.
const VECTOR_SECRET = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy';
const VECTOR_BODY =
  '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]';
const VECTOR_SIGNATURE = '232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de';

const NOW = 1_800_000_000_000;
const apps = [{ appId: 54321, clientSecret: VECTOR_SECRET }];
const options = { apps, now: NOW, maxAgeMs: 300_000 };

function request(headers: Record<string, string>, body = VECTOR_BODY, uri = 'https://hooks.example.com/webhooks/hubspot', method = 'POST'): SignedRequest {
  return { method, uri, body: Buffer.from(body, 'utf8'), headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])) };
}

// Independent reference implementations, written from the documentation's table.
const v2 = (secret: string, method: string, uri: string, body: string) => createHash('sha256').update(secret + method + uri + body, 'utf8').digest('hex');
const v3 = (secret: string, method: string, uri: string, body: string, ts: number) =>
  createHmac('sha256', secret).update(method + uri + body + String(ts), 'utf8').digest('base64');

describe('HubSpot v1', () => {
  it('accepts the published test vector', () => {
    const verdict = verifyHubSpot(request({ 'X-HubSpot-Signature-Version': 'v1', 'X-HubSpot-Signature': VECTOR_SIGNATURE }), options);
    expect(verdict).toEqual({ ok: true, version: 'v1', appId: 54321 });
  });

  it('accepts the vector signature in upper case hex', () => {
    const verdict = verifyHubSpot(request({ 'X-HubSpot-Signature-Version': 'v1', 'X-HubSpot-Signature': VECTOR_SIGNATURE.toUpperCase() }), options);
    expect(verdict.ok).toBe(true);
  });

  it('refuses a changed body, a changed signature, and trailing junk', () => {
    const forgedBody = VECTOR_BODY.replace('"objectId":123', '"objectId":124');
    expect(verifyHubSpot(request({ 'X-HubSpot-Signature-Version': 'v1', 'X-HubSpot-Signature': VECTOR_SIGNATURE }, forgedBody), options)).toMatchObject({
      ok: false,
      check: 'mismatch',
    });
    const flipped = (VECTOR_SIGNATURE[0] === 'a' ? 'b' : 'a') + VECTOR_SIGNATURE.slice(1);
    expect(verifyHubSpot(request({ 'X-HubSpot-Signature-Version': 'v1', 'X-HubSpot-Signature': flipped }), options).ok).toBe(false);
    expect(verifyHubSpot(request({ 'X-HubSpot-Signature-Version': 'v1', 'X-HubSpot-Signature': `${VECTOR_SIGNATURE}zz` }), options)).toMatchObject({
      ok: false,
      check: 'malformed',
    });
  });

  it('refuses with no signature, no version, or no secret', () => {
    expect(verifyHubSpot(request({}), options)).toMatchObject({ ok: false, check: 'missing' });
    expect(verifyHubSpot(request({ 'X-HubSpot-Signature': VECTOR_SIGNATURE }), options)).toMatchObject({ ok: false, check: 'malformed' });
    expect(verifyHubSpot(request({ 'X-HubSpot-Signature-Version': 'v1', 'X-HubSpot-Signature': VECTOR_SIGNATURE }), { ...options, apps: [] })).toMatchObject({
      ok: false,
      check: 'no-secret',
    });
  });

  it('names a pat- token configured as the client secret', () => {
    const verdict = verifyHubSpot(request({ 'X-HubSpot-Signature-Version': 'v1', 'X-HubSpot-Signature': VECTOR_SIGNATURE }), {
      ...options,
      apps: [{ appId: 7, clientSecret: 'pat-na1-11111111-2222-3333-4444-555555555555' }],
    });
    expect(verdict).toMatchObject({ ok: false, check: 'mismatch' });
    expect(!verdict.ok && verdict.cause).toMatch(/private-app access token/);
    expect(!verdict.ok && verdict.cause).not.toContain('11111111');
  });
});

describe('HubSpot v2', () => {
  const uri = 'https://hooks.example.com/webhooks/hubspot?portalId=62515&objectType=contacts';
  const body = '{"email":"zoë@example.com","firstname":"Zoë 🚀","hs_object_id":"51"}';

  it('accepts a signature over method, URI and the raw UTF-8 body', () => {
    const headers = { 'X-HubSpot-Signature-Version': 'v2', 'X-HubSpot-Signature': v2(VECTOR_SECRET, 'POST', uri, body) };
    expect(verifyHubSpot(request(headers, body, uri), options)).toEqual({ ok: true, version: 'v2', appId: 54321 });
  });

  it('refuses when the URI or method differs, and hints at the URL when only the scheme is wrong', () => {
    const headers = { 'X-HubSpot-Signature-Version': 'v2', 'X-HubSpot-Signature': v2(VECTOR_SECRET, 'POST', uri, body) };
    const httpUri = uri.replace('https:', 'http:');
    const verdict = verifyHubSpot(request(headers, body, httpUri), { ...options, alternativeUris: () => [uri] });
    expect(verdict).toMatchObject({ ok: false, check: 'mismatch' });
    expect(!verdict.ok && verdict.cause).toMatch(/http\.publicUrl/);
    expect(verifyHubSpot(request(headers, body, uri, 'PUT'), options).ok).toBe(false);
  });

  it('refuses the body re-encoded with \\u escapes and says so', () => {
    const headers = { 'X-HubSpot-Signature-Version': 'v2', 'X-HubSpot-Signature': v2(VECTOR_SECRET, 'POST', uri, body) };
    const reencoded = body.replace(/[^\x00-\x7f]/gu, (c) => [...c].map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''));
    const escaped = JSON.stringify(JSON.parse(body)).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    for (const changed of [reencoded, escaped]) {
      const verdict = verifyHubSpot(request(headers, changed, uri), options);
      expect(verdict).toMatchObject({ ok: false, check: 'mismatch' });
      expect(!verdict.ok && verdict.cause).toMatch(/re-encoded/);
    }
  });
});

describe('HubSpot v3', () => {
  const uri = 'https://hooks.example.com/webhooks/hubspot?b=2&a=1';
  const body = '[{"eventId":9,"propertyValue":"Straße ✓ 😀"}]';
  const headers = (ts: number, signedUri = uri, secret = VECTOR_SECRET, signedBody = body) => ({
    'X-HubSpot-Signature-v3': v3(secret, 'POST', signedUri, signedBody, ts),
    'X-HubSpot-Request-Timestamp': String(ts),
    // v3 is preferred even when a (wrong) v1 signature is also present.
    'X-HubSpot-Signature-Version': 'v1',
    'X-HubSpot-Signature': '0'.repeat(64),
  });

  it('accepts a fresh signature, emoji and all, with the query string in its original order', () => {
    expect(verifyHubSpot(request(headers(NOW - 1000), body, uri), options)).toEqual({ ok: true, version: 'v3', appId: 54321 });
  });

  it('refuses stale and future timestamps at the configured limit', () => {
    expect(verifyHubSpot(request(headers(NOW - 300_000), body, uri), options).ok).toBe(true);
    expect(verifyHubSpot(request(headers(NOW - 300_001), body, uri), options)).toMatchObject({ ok: false, check: 'timestamp' });
    expect(verifyHubSpot(request(headers(NOW + 300_000), body, uri), options).ok).toBe(true);
    const future = verifyHubSpot(request(headers(NOW + 300_001), body, uri), options);
    expect(future).toMatchObject({ ok: false, check: 'timestamp' });
    expect(!future.ok && future.cause).toMatch(/clock/);
    expect(verifyHubSpot(request({ ...headers(NOW), 'X-HubSpot-Request-Timestamp': 'yesterday' }, body, uri), options)).toMatchObject({
      ok: false,
      check: 'malformed',
    });
  });

  it('decodes exactly the escapes of the table before hashing', () => {
    const sent = 'https://hooks.example.com/webhooks/hubspot%3Fx?email=a%40b.com&t=%3A%2F%3F%21%24%27%28%29%2A%2C%3B&keep=%20%2B%25';
    const decoded = "https://hooks.example.com/webhooks/hubspot?x?email=a@b.com&t=:/?!$'()*,;&keep=%20%2B%25";
    expect(decodeV3Uri(sent)).toBe(decoded);
    expect(decodeV3Uri('a%3ab%2fc')).toBe('a:b/c');
    expect(verifyHubSpot(request(headers(NOW, decoded), body, sent), options).ok).toBe(true);
    // Signing the undecoded form is not what HubSpot does.
    expect(verifyHubSpot(request(headers(NOW, sent), body, sent), options).ok).toBe(false);
  });

  it('accepts any of several apps and refuses an unknown secret', () => {
    const two = [
      { appId: 1, clientSecret: 'first-secret' },
      { appId: 2, clientSecret: 'second-secret' },
    ];
    expect(verifyHubSpot(request(headers(NOW, uri, 'second-secret'), body, uri), { ...options, apps: two })).toEqual({ ok: true, version: 'v3', appId: 2 });
    expect(verifyHubSpot(request(headers(NOW, uri, 'first-secret'), body, uri), { ...options, apps: two })).toEqual({ ok: true, version: 'v3', appId: 1 });
    expect(verifyHubSpot(request(headers(NOW, uri, 'third-secret'), body, uri), { ...options, apps: two }).ok).toBe(false);
  });

  it('refuses a signature over re-serialised JSON of a non-ASCII body', () => {
    const raw = '[{"eventId":9,"propertyValue":"\\u00e4"}]';
    const reserialised = JSON.stringify(JSON.parse(raw));
    expect(reserialised).not.toBe(raw);
    expect(verifyHubSpot(request(headers(NOW, uri, VECTOR_SECRET, raw), raw, uri), options).ok).toBe(true);
    expect(verifyHubSpot(request(headers(NOW, uri, VECTOR_SECRET, raw), reserialised, uri), options).ok).toBe(false);
  });
});

describe('public URI', () => {
  const base = { url: '/webhooks/hubspot?b=%20&a=1', encrypted: false };

  it('prefers http.publicUrl, with a path prefix', () => {
    expect(publicUri({ ...base, headers: { host: '10.0.0.5:3000' } }, { publicUrl: 'https://hooks.example.com/', trustProxy: false })).toBe(
      'https://hooks.example.com/webhooks/hubspot?b=%20&a=1',
    );
    expect(publicUri({ ...base, headers: {} }, { publicUrl: 'https://example.com/hubsync', trustProxy: false })).toBe(
      'https://example.com/hubsync/webhooks/hubspot?b=%20&a=1',
    );
  });

  it('uses forwarded headers only when trusted, first entry of a list', () => {
    const headers = { host: '10.0.0.5:3000', 'x-forwarded-proto': 'https, http', 'x-forwarded-host': 'hooks.example.com' };
    expect(publicUri({ ...base, headers }, { publicUrl: '', trustProxy: true })).toBe('https://hooks.example.com/webhooks/hubspot?b=%20&a=1');
    expect(publicUri({ ...base, headers }, { publicUrl: '', trustProxy: false })).toBe('http://10.0.0.5:3000/webhooks/hubspot?b=%20&a=1');
    expect(alternativeUris({ ...base, headers }, { publicUrl: '', trustProxy: false })).toContain('https://hooks.example.com/webhooks/hubspot?b=%20&a=1');
  });
});

describe('Paragon', () => {
  const secret = 'paragon-webhook-secret';
  const body = Buffer.from('{"eventId":"e-1","payload":{"name":"Jürgen 🎉"}}', 'utf8');
  const mac = createHmac('sha256', secret).update(body).digest();

  it('accepts the MAC in hex or base64, among several values', () => {
    expect(verifyParagon(`v1=${mac.toString('hex')}`, body, secret)).toEqual({ ok: true });
    expect(verifyParagon(`v1=${mac.toString('base64')}`, body, secret)).toEqual({ ok: true });
    expect(verifyParagon(`v1=${mac.toString('base64url')}`, body, secret)).toEqual({ ok: true });
    expect(verifyParagon(`v1=${'0'.repeat(64)},v1=${mac.toString('hex')}`, body, secret)).toEqual({ ok: true });
  });

  it('refuses forged, missing, malformed and unconfigured', () => {
    expect(verifyParagon(`v1=${mac.toString('hex')}`, Buffer.concat([body, Buffer.from(' ')]), secret)).toMatchObject({ ok: false, check: 'mismatch' });
    expect(verifyParagon(`v1=${createHmac('sha256', 'other').update(body).digest('hex')}`, body, secret)).toMatchObject({ ok: false, check: 'mismatch' });
    expect(verifyParagon(undefined, body, secret)).toMatchObject({ ok: false, check: 'missing' });
    expect(verifyParagon('sha256=abc', body, secret)).toMatchObject({ ok: false, check: 'malformed' });
    expect(verifyParagon(`v0=${mac.toString('hex')}`, body, secret)).toMatchObject({ ok: false, check: 'malformed' });
    expect(verifyParagon(`v1=${mac.toString('hex')}`, body, '')).toMatchObject({ ok: false, check: 'no-secret' });
    expect(decodeParagonSignature('zz')).toBeNull();
  });
});
