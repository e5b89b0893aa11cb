// The official @upstash/redis client against the local Upstash-compatible endpoint.
//
// The Rust tests check the wire format as we read Upstash's documentation; this file checks
// that the client production code is written against actually accepts it: its base64
// decoding, JSON (de)serialisation, pipelines, transactions, scripts and error handling.
//
// Needs UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN, e.g.
//   UPSTASH_REDIS_REST_URL=http://127.0.0.1:8079 UPSTASH_REDIS_REST_TOKEN=... npm test

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { Redis } from "@upstash/redis";

const url = process.env.UPSTASH_REDIS_REST_URL;
const token = process.env.UPSTASH_REDIS_REST_TOKEN;
assert.ok(url && token, "set UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN");

// No retries: a failure should surface at once, not after the client's backoff.
const connect = (options = {}) =>
  new Redis({ url, token, retry: false, enableTelemetry: false, ...options });

const redis = connect();
const key = (label) => `upstash-compat:${randomUUID()}:${label}`;

describe("@upstash/redis against the local endpoint", () => {
  it("runs basic string, counter and expiry commands", async () => {
    const [name, counter] = [key("name"), key("counter")];
    assert.equal(await redis.set(name, "héllo wörld ✓"), "OK");
    assert.equal(await redis.get(name), "héllo wörld ✓");
    assert.equal(await redis.get(key("missing")), null);
    assert.equal(await redis.incr(counter), 1);
    assert.equal(await redis.incrby(counter, 41), 42);
    assert.equal(await redis.expire(counter, 100), 1);
    const ttl = await redis.ttl(counter);
    assert.ok(ttl > 0 && ttl <= 100, `ttl ${ttl}`);
    assert.equal(await redis.set(name, "x", { ex: 50, nx: true }), null);
    assert.equal(await redis.del(name, counter), 2);
    assert.equal(await redis.exists(name), 0);
  });

  it("round-trips JSON objects", async () => {
    const name = key("json");
    const value = { id: 7, title: "AI变现之路", tags: ["a", "b"], nested: { ok: true } };
    await redis.set(name, value);
    assert.deepEqual(await redis.get(name), value);
    const hash = key("hash");
    await redis.hset(hash, { profile: value });
    assert.deepEqual(await redis.hget(hash, "profile"), value);
  });

  it("executes pipelines", async () => {
    const [counter, list] = [key("counter"), key("list")];
    const results = await redis
      .pipeline()
      .set(counter, 1)
      .incr(counter)
      .rpush(list, "a", "b")
      .lrange(list, 0, -1)
      .get(key("missing"))
      .exec();
    assert.deepEqual(results, ["OK", 2, 2, ["a", "b"], null]);
  });

  it("keeps per-command errors of a pipeline", async () => {
    const name = key("text");
    const results = await redis
      .pipeline()
      .set(name, "not a number")
      .incr(name)
      .get(name)
      .exec({ keepErrors: true });
    assert.equal(results[0].result, "OK");
    assert.match(results[1].error, /^ERR /);
    assert.equal(results[2].result, "not a number");
  });

  it("executes transactions", async () => {
    const [counter, name] = [key("counter"), key("name")];
    const results = await redis.multi().incr(counter).incr(counter).set(name, "v").get(name).exec();
    assert.deepEqual(results, [1, 2, "OK", "v"]);
  });

  it("evaluates scripts, and scripts loaded by hash", async () => {
    const name = key("script");
    const script = "redis.call('SET', KEYS[1], ARGV[1]); return {redis.call('GET', KEYS[1]), 5}";
    assert.deepEqual(await redis.eval(script, [name], ["first"]), ["first", 5]);

    const sha = await redis.scriptLoad(script);
    assert.match(sha, /^[0-9a-f]{40}$/);
    assert.deepEqual(await redis.evalsha(sha, [name], ["second"]), ["second", 5]);
    assert.equal(await redis.get(name), "second");
    await assert.rejects(redis.evalsha("0".repeat(40), [name], []), /NOSCRIPT/);
  });

  it("rejects a command that Redis refuses", async () => {
    const name = key("text");
    await redis.set(name, "abc");
    await assert.rejects(redis.incr(name), /ERR value is not an integer/);
    await assert.rejects(redis.lpush(name, "x"), /WRONGTYPE/);
  });

  it("rejects a wrong token", async () => {
    const intruder = new Redis({ url, token: `${token}-wrong`, retry: false, enableTelemetry: false });
    await assert.rejects(intruder.get(key("any")), /Unauthorized/);
  });

  it("returns raw strings when automatic deserialization is off", async () => {
    const raw = connect({ automaticDeserialization: false });
    const name = key("raw");
    await redis.set(name, { a: 1 });
    assert.equal(await raw.get(name), '{"a":1}');
    await raw.set(name, "42");
    assert.equal(await raw.get(name), "42");
    assert.equal(await redis.get(name), 42);
  });

  it("works without base64 response encoding", async () => {
    const plain = connect({ responseEncoding: false });
    const [name, list] = [key("plain"), key("list")];
    assert.equal(await plain.set(name, "ünïcode ✓"), "OK");
    assert.equal(await plain.get(name), "ünïcode ✓");
    await plain.rpush(list, "x", "OK", "y");
    assert.deepEqual(await plain.lrange(list, 0, -1), ["x", "OK", "y"]);
    assert.deepEqual(await plain.pipeline().get(name).llen(list).exec(), ["ünïcode ✓", 3]);
    assert.deepEqual(await plain.multi().incr(key("n")).get(name).exec(), [1, "ünïcode ✓"]);
    await assert.rejects(plain.incr(name), /ERR value is not an integer/);
  });

  it("decodes base64 strings nested in arrays, including one that reads OK", async () => {
    const list = key("list");
    await redis.rpush(list, "x", "OK", "ünïcode");
    assert.deepEqual(await redis.lrange(list, 0, -1), ["x", "OK", "ünïcode"]);
    assert.deepEqual(await redis.multi().lrange(list, 0, 0).echo("OK").exec(), [["x"], "OK"]);
  });
});
