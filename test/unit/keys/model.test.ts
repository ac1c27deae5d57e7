import t from 'tap';
import { allScopes, generateApiKey, hashApiKey, isScope } from '../../../src/keys/model.js';

t.test('a new API key is osk_ followed by 43 base64url characters (256 random bits)', async (t) => {
  for (let i = 0; i < 20; i++) t.match(generateApiKey(), /^osk_[A-Za-z0-9_-]{43}$/);
});

t.test('every new key is different', async (t) => {
  const keys = new Set(Array.from({ length: 1000 }, generateApiKey));
  t.equal(keys.size, 1000);
});

t.test('a key is stored as the lower-case hex SHA-256 of its text', async (t) => {
  t.equal(hashApiKey('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  t.equal(hashApiKey(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

t.test('the same key always hashes the same, another key differently', async (t) => {
  const key = generateApiKey();
  t.equal(hashApiKey(key), hashApiKey(key));
  t.not(hashApiKey(key), hashApiKey(`${key}x`));
});

t.test('the scopes are orders:read, orders:write, services:write, metrics:read and events:read', async (t) => {
  t.strictSame([...allScopes], ['orders:read', 'orders:write', 'services:write', 'metrics:read', 'events:read']);
  for (const scope of allScopes) t.equal(isScope(scope), true, scope);
});

t.test('anything else is not a scope', async (t) => {
  for (const text of [
    '',
    'orders',
    'orders:*',
    'ORDERS:READ',
    ' orders:read',
    'services:read',
    'admin',
    'events:write',
  ]) {
    t.equal(isScope(text), false, JSON.stringify(text));
  }
});
