//! The shared platform against real servers: PostgreSQL, and Redis through the local
//! Upstash endpoint.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bianxian_e2e::{
    StackOptions, TestDb, closed_port, random_suffix, redis_addr, spawn_stack, spawn_stack_with,
};
use platform::{
    cache::{Cache, Entry, Source},
    cmd,
    config::{FailureMode, RedisConfig},
    ratelimit::{Pace, Policy, RateLimiter},
    secret::Secret,
    upstash::{Script, Upstash, UpstashError},
};
use serde_json::{Value, json};

#[tokio::test]
async fn a_connection_killed_by_the_server_is_replaced() {
    let stack = spawn_stack().await;
    let query = || async {
        let client = stack.platform.db.client().await.unwrap();
        client.simple_query("SELECT 1").await.map(drop)
    };
    query().await.unwrap();
    stack.platform.db.ping().await.unwrap();
    // What a frozen sandbox finds when it thaws: the server dropped its connections.
    let admin = stack.db.client().await;
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&stack.db.name],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Fresh connections skip verification; the closed one is detected by
    // is_closed() once its connection task has seen the EOF.
    for _ in 0..3 {
        query().await.unwrap();
        stack.platform.db.ping().await.unwrap();
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_refuse_edited_history() {
    let db = TestDb::empty().await;
    let mut client = db.client().await;
    let first = platform::migrations::run(&mut client).await.unwrap();
    let all: Vec<i32> = platform::migrations::MIGRATIONS
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(first.applied, all);
    let again = platform::migrations::run(&mut client).await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.current, first.current);

    client
        .execute(
            "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
            &[],
        )
        .await
        .unwrap();
    let err = platform::migrations::run(&mut client).await.unwrap_err();
    assert!(
        err.to_string().contains("changed after it was applied"),
        "{err}"
    );
}

#[tokio::test]
async fn concurrent_migration_runs_apply_each_migration_once() {
    let db = TestDb::empty().await;
    let runs = (0..4).map(|_| async {
        let mut client = db.client().await;
        platform::migrations::run(&mut client).await.unwrap()
    });
    let reports = futures_util::future::join_all(runs).await;
    let applied: usize = reports.iter().map(|r| r.applied.len()).sum();
    assert_eq!(applied, platform::migrations::MIGRATIONS.len());
}

fn key(name: &str) -> String {
    format!("test:{}:{name}", random_suffix())
}

#[tokio::test]
async fn upstash_client_speaks_commands_pipelines_and_transactions() {
    let stack = spawn_stack().await;
    let redis = &stack.platform.redis;
    let k = key("greeting");
    assert_eq!(
        redis
            .cmd(cmd!["SET", k.as_str(), "你好, world"])
            .await
            .unwrap(),
        json!("OK")
    );
    assert_eq!(
        redis.cmd(cmd!["GET", k.as_str()]).await.unwrap(),
        json!("你好, world")
    );
    assert_eq!(
        redis.cmd(cmd!["GET", key("missing")]).await.unwrap(),
        Value::Null
    );

    let counter = key("counter");
    let results = redis
        .pipeline(vec![
            cmd!["INCR", counter.as_str()],
            cmd!["INCRBY", counter.as_str(), 41],
            cmd!["HSET", k.as_str(), "f", "v"],
            cmd!["EXPIRE", counter.as_str(), 60],
        ])
        .await
        .unwrap();
    assert_eq!(results[0].as_ref().unwrap(), &json!(1));
    assert_eq!(results[1].as_ref().unwrap(), &json!(42));
    assert!(matches!(&results[2], Err(UpstashError::Command(m)) if m.starts_with("WRONGTYPE")));
    assert_eq!(results[3].as_ref().unwrap(), &json!(1));

    let list = key("list");
    let results = redis
        .multi_exec(vec![
            cmd!["RPUSH", list.as_str(), "a", "b"],
            cmd!["LRANGE", list.as_str(), 0, -1],
        ])
        .await
        .unwrap();
    assert_eq!(results[1].as_ref().unwrap(), &json!(["a", "b"]));

    let err = redis.cmd(cmd!["INCR", k.as_str()]).await.unwrap_err();
    assert!(matches!(err, UpstashError::Command(_)), "{err:?}");
}

#[tokio::test]
async fn eval_falls_back_from_evalsha_when_the_script_is_unknown() {
    let stack = spawn_stack().await;
    let redis = &stack.platform.redis;
    // A script body unique to this run, so Redis has certainly never cached it.
    let source: &'static str =
        Box::leak(format!("return {{KEYS[1], ARGV[1], '{}'}}", random_suffix()).into_boxed_str());
    let script = Script::new(source);
    let reply = redis
        .eval(&script, vec![json!("k")], vec![json!("v")])
        .await
        .unwrap();
    assert_eq!(reply[0], "k");
    assert_eq!(reply[1], "v");
    let cached = redis
        .cmd(cmd!["SCRIPT", "EXISTS", script.sha1()])
        .await
        .unwrap();
    assert_eq!(cached, json!([1]));
}

#[tokio::test]
async fn a_wrong_token_is_refused() {
    let stack = spawn_stack().await;
    let client = Upstash::new(&RedisConfig {
        url: stack.upstash_url.parse().unwrap(),
        token: Secret::new("wrong"),
        timeout: Duration::from_secs(1),
        key_prefix: "x:".into(),
    })
    .unwrap();
    let err = client.cmd(cmd!["PING"]).await.unwrap_err();
    assert!(
        matches!(err, UpstashError::Http { status: 401, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_rate_limiter_allows_the_limit_then_refuses_with_a_reset() {
    let stack = spawn_stack().await;
    let limiter = &stack.platform.limiter;
    let policy = Policy {
        name: "test",
        limit: 3,
        window: Duration::from_secs(60),
    };
    let who = random_suffix();
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let decision = limiter.hit(policy, &who).await.unwrap();
        assert!(decision.allowed);
        remaining.push(decision.remaining);
    }
    assert_eq!(remaining, vec![2, 1, 0]);
    let refused = limiter.hit(policy, &who).await.unwrap();
    assert!(!refused.allowed);
    assert!(refused.reset_secs >= 1 && refused.reset_secs <= 60);
    let response = refused.check().unwrap_err().to_response();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    // Someone else is not affected.
    assert!(limiter.hit(policy, &random_suffix()).await.unwrap().allowed);
}

/// Limits on failures: `peek` checks without counting, `count` counts past the limit.
#[tokio::test]
async fn the_rate_limiter_peeks_and_counts_apart() {
    let stack = spawn_stack().await;
    let limiter = &stack.platform.limiter;
    let policy = Policy {
        name: "test-failures",
        limit: 2,
        window: Duration::from_secs(60),
    };
    let who = random_suffix();
    for _ in 0..5 {
        assert_eq!(limiter.peek(policy, &who).await.unwrap().remaining, 2);
    }
    limiter.count(policy, &who).await.unwrap();
    assert!(limiter.peek(policy, &who).await.unwrap().allowed);
    limiter.count(policy, &who).await.unwrap();
    limiter.count(policy, &who).await.unwrap();
    assert!(!limiter.peek(policy, &who).await.unwrap().allowed);
    assert!(!limiter.hit(policy, &who).await.unwrap().allowed);
}

#[tokio::test]
async fn the_rate_limiter_counts_concurrent_hits_exactly() {
    let stack = spawn_stack().await;
    let limiter = stack.platform.limiter.clone();
    let policy = Policy {
        name: "burst",
        limit: 10,
        window: Duration::from_secs(60),
    };
    let who = random_suffix();
    let tasks: Vec<_> = (0..25)
        .map(|_| {
            let limiter = limiter.clone();
            let who = who.clone();
            tokio::spawn(async move { limiter.hit(policy, &who).await.unwrap().allowed })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        allowed += usize::from(task.await.unwrap());
    }
    assert_eq!(allowed, 10);
}

#[tokio::test]
async fn a_pace_grants_a_burst_then_one_unit_per_interval_across_takers() {
    let stack = spawn_stack().await;
    let limiter = &stack.platform.limiter;
    // 10 per second (one unit each 100 ms), up to 300 ms ahead: three at once.
    let pace = Pace {
        name: "test-pace",
        per_second: 10,
        burst: Duration::from_millis(300),
    };
    let who = random_suffix();
    let first = limiter.take(pace, &who, 5).await.unwrap();
    assert_eq!(first.granted, 3, "{first:?}");
    let none = limiter.take(pace, &who, 5).await.unwrap();
    assert_eq!(none.granted, 0, "{none:?}");
    assert!(
        none.retry_in > Duration::ZERO && none.retry_in <= Duration::from_millis(100),
        "{none:?}"
    );
    tokio::time::sleep(none.retry_in).await;
    assert_eq!(limiter.take(pace, &who, 5).await.unwrap().granted, 1);
    // A burst shorter than the interval still grants one unit at a time, whether
    // the interval is whole milliseconds (2/s) or not (14/s, SES's first quota:
    // 71.43 ms, which once rounded down to no grant at all, for ever).
    for per_second in [2, 14] {
        let slow = Pace {
            name: "test-pace",
            per_second,
            burst: Duration::from_millis(50),
        };
        let who = random_suffix();
        let first = limiter.take(slow, &who, 5).await.unwrap();
        assert_eq!(first.granted, 1, "{per_second}/s: {first:?}");
        let wait = limiter.take(slow, &who, 5).await.unwrap();
        assert_eq!(wait.granted, 0, "{per_second}/s: {wait:?}");
        tokio::time::sleep(wait.retry_in).await;
        let next = limiter.take(slow, &who, 5).await.unwrap();
        assert_eq!(next.granted, 1, "{per_second}/s: {next:?}");
    }
    // Over 1.2 s, many takers together get what the pace allows, no more.
    let who = random_suffix();
    let started = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let limiter = limiter.clone();
            let who = who.clone();
            tokio::spawn(async move {
                let mut got = 0;
                while started.elapsed() < Duration::from_millis(1200) {
                    let grant = limiter.take(pace, &who, 2).await.unwrap();
                    got += grant.granted;
                    tokio::time::sleep(grant.retry_in.max(Duration::from_millis(5))).await;
                }
                got
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    let elapsed = started.elapsed().as_millis() as u32;
    assert!(
        total <= 3 + elapsed / 100 + 1 && total >= 10,
        "{total} units in {elapsed} ms"
    );
}

#[tokio::test]
async fn without_redis_the_limiter_fails_open_or_closed_as_configured() {
    let down = format!("http://{}", closed_port().await);
    let redis = Upstash::new(&RedisConfig {
        url: down.parse().unwrap(),
        token: Secret::new("t"),
        timeout: Duration::from_millis(300),
        key_prefix: "x:".into(),
    })
    .unwrap();
    let policy = Policy {
        name: "down",
        limit: 1,
        window: Duration::from_secs(1),
    };
    let open = RateLimiter::new(redis.clone(), "x:", FailureMode::Open);
    assert!(open.hit(policy, "a").await.unwrap().allowed);
    let closed = RateLimiter::new(redis, "x:", FailureMode::Closed);
    let err = closed.hit(policy, "a").await.unwrap_err();
    assert_eq!(err.status(), 503);
}

/// Two caches over one Redis, as two warm Lambda sandboxes are.
fn two_sandboxes(stack: &bianxian_e2e::TestStack) -> (Cache, Cache) {
    let prefix = &stack.platform.config.redis.key_prefix;
    (
        Cache::new(stack.platform.redis.clone(), prefix),
        Cache::new(stack.platform.redis.clone(), prefix),
    )
}

#[tokio::test]
async fn the_cache_serves_hits_and_forgets_a_namespace_on_invalidation() {
    let stack = spawn_stack().await;
    let (cache, _) = two_sandboxes(&stack);
    let loads = Arc::new(AtomicUsize::new(0));
    let load = |value: &'static str| {
        let loads = loads.clone();
        move || async move {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(json!({ "title": value }).to_string())
        }
    };
    let ttl = Duration::from_secs(60);
    let read = |namespace: &'static str, key: &'static str, value: &'static str| {
        let (cache, load) = (cache.clone(), load(value));
        async move {
            let (entry, source) = cache.get_or_load(namespace, key, ttl, load).await.unwrap();
            let body: Value = serde_json::from_str(entry.body()).unwrap();
            (body["title"].as_str().unwrap().to_owned(), source)
        }
    };
    assert_eq!(
        read("articles", "page=1", "v1").await,
        ("v1".into(), Source::Miss)
    );
    assert_eq!(
        read("articles", "page=1", "v2").await,
        ("v1".into(), Source::Memory)
    );
    // Another namespace is untouched by invalidating this one.
    read("tags", "all", "t1").await;
    cache.invalidate(&["articles"]).await.unwrap();
    assert_eq!(
        read("articles", "page=1", "v3").await,
        ("v3".into(), Source::Miss)
    );
    assert_eq!(
        read("tags", "all", "t2").await,
        ("t1".into(), Source::Memory)
    );
    assert_eq!(loads.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_sandbox_sees_an_invalidation_made_by_another_on_its_next_read() {
    let stack = spawn_stack().await;
    let (reader, writer) = two_sandboxes(&stack);
    let ttl = Duration::from_secs(60);
    let body = |value: &'static str| move || async move { Ok(value.to_owned()) };
    let (_, source) = reader
        .get_or_load("articles", "k", ttl, body("old"))
        .await
        .unwrap();
    assert_eq!(source, Source::Miss);
    // The other sandbox has no copy in memory: it gets the body from Redis.
    let (entry, source) = writer
        .get_or_load("articles", "k", ttl, body("x"))
        .await
        .unwrap();
    assert_eq!((entry.body(), source), ("old", Source::Redis));
    let (_, source) = reader
        .get_or_load("articles", "k", ttl, body("x"))
        .await
        .unwrap();
    assert_eq!(source, Source::Memory);
    writer.invalidate(&["articles"]).await.unwrap();
    let (entry, source) = reader
        .get_or_load("articles", "k", ttl, body("new"))
        .await
        .unwrap();
    assert_eq!((entry.body(), source), ("new", Source::Miss));
    // And the writer's own stale copy is not served either.
    let (entry, source) = writer
        .get_or_load("articles", "k", ttl, body("x"))
        .await
        .unwrap();
    assert_eq!((entry.body(), source), ("new", Source::Redis));
    assert_eq!(entry.etag(), Entry::new("new".into()).etag());
}

#[tokio::test]
async fn without_redis_the_cache_is_a_miss_not_an_error() {
    let stack = spawn_stack_with(StackOptions {
        redis_addr: Some(closed_port().await),
        ..Default::default()
    })
    .await;
    let (entry, source) = stack
        .platform
        .cache
        .get_or_load("articles", "k", Duration::from_secs(5), || async {
            Ok("from postgres".to_owned())
        })
        .await
        .unwrap();
    assert_eq!((entry.body(), source), ("from postgres", Source::Miss));
}

#[tokio::test]
async fn a_body_too_big_for_upstash_stays_in_memory_and_out_of_redis() {
    let stack = spawn_stack().await;
    let (cache, other) = two_sandboxes(&stack);
    let ttl = Duration::from_secs(60);
    // Quotes double when the SET command is JSON-escaped: this would cross 1 MiB.
    let big = format!("[{}]", vec!["\"\""; 300_000].join(","));
    let load = |body: String| move || async move { Ok(body) };
    let (entry, source) = cache
        .get_or_load("articles", "big", ttl, load(big.clone()))
        .await
        .unwrap();
    assert_eq!((entry.body().len(), source), (big.len(), Source::Miss));
    let (_, source) = cache
        .get_or_load("articles", "big", ttl, load("x".into()))
        .await
        .unwrap();
    assert_eq!(source, Source::Memory);
    // Nothing reached Redis: another sandbox loads it itself.
    let (entry, source) = other
        .get_or_load("articles", "big", ttl, load("fresh".into()))
        .await
        .unwrap();
    assert_eq!((entry.body(), source), ("fresh", Source::Miss));
}

/// A test stack takes its Redis keys with it, as it does its database (issue 10,
/// item 17): sessions and cached bodies no longer pile up on the developer's Redis.
#[tokio::test]
async fn a_stack_leaves_no_redis_keys_behind() {
    let stack = spawn_stack().await;
    let prefix = stack.platform.config.redis.key_prefix.clone();
    stack
        .register(
            &format!("keys-{}@example.com", random_suffix()),
            "a password 123",
        )
        .await;
    assert!(
        !bianxian_e2e::redis_keys(&prefix).await.is_empty(),
        "signing up writes session and rate-limit keys"
    );
    drop(stack);
    let left = bianxian_e2e::redis_keys(&prefix).await;
    assert!(left.is_empty(), "{} keys left under {prefix}", left.len());
}

/// `DATABASE_URL`'s `sslmode` means what libpq says (issue 10, item 15): a plain URL
/// (libpq's default, `prefer`) and `require` encrypt without verifying, so a server
/// with a self-signed certificate accepts them; `verify-ca` and `verify-full` verify,
/// and a refusal says exactly what to change. Against the machine's PostgreSQL: with
/// `ssl = on` every mode is exercised; without TLS, `prefer` falls back to plaintext
/// and `require` explains that the server offers none.
#[tokio::test]
async fn sslmode_means_what_libpq_says() {
    use platform::{
        config::DatabaseConfig,
        db::{Db, SslPolicy},
    };
    let stack = spawn_stack().await;
    let (base, _) = SslPolicy::split(stack.platform.config.database.url.expose()).unwrap();
    let connect = |mode: &str, ca_pem: Option<String>| {
        let url = match mode {
            "" => base.clone(),
            mode => format!("{base}?sslmode={mode}"),
        };
        async move {
            let db = Db::new(&DatabaseConfig {
                url: Secret::new(url),
                ca_pem,
                pool_size: 1,
                statement_timeout: Duration::from_secs(5),
                statements: platform::db::Statements::Unnamed,
            })
            .unwrap();
            db.client_or_explain()
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
    };
    let admin = stack.db.client().await;
    let ssl: String = admin.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    for mode in ["", "disable", "allow", "prefer"] {
        connect(mode, None)
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
    }
    if ssl != "on" {
        let refused = connect("require", None).await.unwrap_err();
        assert!(
            refused.contains("offers TLS") || refused.contains("sslmode"),
            "{refused}"
        );
        return;
    }
    connect("require", None).await.unwrap();
    // The server's own certificate, when this user may read it (Debian's snakeoil
    // is world-readable), as the CA to trust.
    let cert_file: String = admin
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    let untrusted = connect("verify-full", None).await.unwrap_err();
    assert!(untrusted.contains("DATABASE_CA_PEM"), "{untrusted}");
    let untrusted = connect("verify-ca", None).await.unwrap_err();
    assert!(untrusted.contains("DATABASE_CA_PEM"), "{untrusted}");
    if let Ok(pem) = std::fs::read_to_string(&cert_file) {
        connect("verify-ca", Some(pem.clone())).await.unwrap();
        connect("require", Some(pem.clone())).await.unwrap();
        // The test connects to 127.0.0.1, which a self-signed certificate rarely names.
        if let Err(wrong_name) = connect("verify-full", Some(pem)).await {
            assert!(wrong_name.contains("verify-ca"), "{wrong_name}");
        }
    }
}

/// A place whose holder died is free again once its lease has passed.
#[tokio::test]
async fn a_slot_whose_holder_died_frees_after_its_lease() {
    use platform::ratelimit::Slots;
    let stack = spawn_stack().await;
    let slots = Slots {
        name: "test-slots",
        limit: 1,
        lease: Duration::from_millis(300),
    };
    stack.hold_slot("test-slots", "crashed").await;
    let limiter = &stack.platform.limiter;
    let busy = limiter.in_slot(slots, async { Ok(()) }).await.unwrap_err();
    assert_eq!(busy.to_response().status(), 429);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(limiter.in_slot(slots, async { Ok(7) }).await.unwrap(), 7);
}

/// A place whose work is dropped before it ends (a client hanging up cancels its
/// request in the gateway) is given back at once, not when its lease runs out.
#[tokio::test]
async fn a_slot_whose_work_is_cancelled_is_given_back_at_once() {
    use platform::ratelimit::Slots;
    let stack = spawn_stack().await;
    let slots = Slots {
        name: "test-slots",
        limit: 1,
        lease: Duration::from_secs(60),
    };
    let limiter = &stack.platform.limiter;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(200),
        limiter.in_slot(slots, std::future::pending::<platform::error::Result<()>>()),
    )
    .await;
    assert!(
        cancelled.is_err(),
        "the work never ends, so the timeout drops it"
    );
    assert!(
        place_comes_free(limiter, slots).await,
        "the cancelled work's place was not given back"
    );
}

/// A request dropped while its place is being taken (its `EVAL` sent, the answer not
/// back) gives the place back too, once the answer comes. Redis answers through a
/// proxy that holds every reply for 100 ms, so the drop lands mid-`EVAL`.
#[tokio::test]
async fn a_slot_being_taken_when_its_request_is_dropped_is_given_back() {
    use platform::ratelimit::Slots;
    let stack = spawn_stack_with(StackOptions {
        redis_addr: Some(slow_redis(Duration::from_millis(100)).await),
        ..Default::default()
    })
    .await;
    let slots = Slots {
        name: "test-slots-taking",
        limit: 1,
        lease: Duration::from_secs(60),
    };
    let limiter = &stack.platform.limiter;
    let dropped = tokio::time::timeout(
        Duration::from_millis(30),
        limiter.in_slot(slots, async { Ok(()) }),
    )
    .await;
    assert!(dropped.is_err(), "dropped while the EVAL was on its way");
    assert!(
        place_comes_free(limiter, slots).await,
        "the place taken for the dropped request stayed taken"
    );
}

/// Whether a place of `slots` can be taken within 50 tries, 20 ms apart: given
/// back at once, it can; left to its lease (a minute), it cannot.
async fn place_comes_free(
    limiter: &platform::ratelimit::RateLimiter,
    slots: platform::ratelimit::Slots,
) -> bool {
    for _ in 0..50 {
        if limiter.in_slot(slots, async { Ok(()) }).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The Redis of this machine behind a proxy that holds each reply for `delay`.
async fn slow_redis(delay: Duration) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(redis_addr()).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let mut buffer = vec![0; 64 * 1024];
                while let Ok(read) = server_read.read(&mut buffer).await {
                    if read == 0 {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    if client_write.write_all(&buffer[..read]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}
