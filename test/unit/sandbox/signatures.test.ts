import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signV1, signV2, signV3, v3Uri } from '../../../src/sandbox/hubspot/signatures.ts';

describe('HubSpot signatures', () => {
  it('v1 reproduces HubSpot’s published test vector', () => {
    const body = '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]';
    expect(signV1('yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy', body)).toBe('232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de');
  });

  it('v2 hashes secret + method + uri + body', () => {
    expect(signV2('s', 'POST', 'https://x.example/h?a=1', '{}')).toBe(signV1('s', 'POSThttps://x.example/h?a=1{}'));
  });

  it('v3 is base64 HMAC-SHA256 of method + uri + body + timestamp over UTF-8 bytes, non-ASCII included', () => {
    const body = '[{"firstname":"Zoë 😀","city":"København"}]';
    const uri = 'https://hooks.example.com/webhooks/hubspot?x=1';
    const expected = createHmac('sha256', Buffer.from('secret', 'utf8'))
      .update(Buffer.concat([Buffer.from(`POST${uri}`), Buffer.from(body, 'utf8'), Buffer.from('1700000000000')]))
      .digest('base64');
    expect(signV3('secret', 'POST', uri, body, 1_700_000_000_000)).toBe(expected);
    // The classic receiver bug: hashing re-serialised JSON with \u escapes gives another signature.
    const escaped = JSON.stringify(JSON.parse(body)).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    expect(signV3('secret', 'POST', uri, escaped, 1_700_000_000_000)).not.toBe(expected);
  });

  it('v3 covers the URI with HubSpot\u2019s listed escapes decoded, others kept', () => {
    expect(v3Uri('https://h.example/hook%40x?to=a%40b.example&p=%2Fx%2f&q=%20&r=%3a')).toBe('https://h.example/hook@x?to=a@b.example&p=/x/&q=%20&r=:');
    const ts = 1_700_000_000_000;
    const decoded = createHmac('sha256', 's').update('POSThttps://h.example/w?to=a@b.example{}' + String(ts), 'utf8').digest('base64');
    expect(signV3('s', 'POST', 'https://h.example/w?to=a%40b.example', '{}', ts)).toBe(decoded);
  });
});
