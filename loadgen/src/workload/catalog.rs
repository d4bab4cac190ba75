//! The data behind the generator: services, their hosts, routes and
//! message templates, the word lists templates draw from, and the context
//! segments that pad lines to a size. Only data lives here; `generator`
//! decides how it is combined.
//!
//! The mix imitates a microservice shop: a busy API gateway and storefront,
//! quieter back-office services, a few JVM services (Java stack traces), the
//! rest Rust. Templates are written the way such services log: access lines,
//! logfmt pairs, SQL, ids of every kind, and error text copied from real
//! libraries. See `template` for the placeholder syntax.

/// How much a template is used relative to the others of its class.
pub(crate) type Weight = u32;

/// Which levels a template is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// trace and debug
    Verbose,
    Info,
    Warn,
    /// error and fatal
    Error,
}

impl Class {
    pub(crate) const ALL: [Class; 4] = [Class::Verbose, Class::Info, Class::Warn, Class::Error];

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The language a service's stack traces are written in.
#[derive(Clone, Copy, Debug)]
pub(crate) enum StackStyle {
    /// Frames under `com.acme.<package>`.
    Java { package: &'static str },
    /// Frames under the crate `<krate>`.
    Rust { krate: &'static str },
}

pub(crate) struct ServiceSpec {
    pub name: &'static str,
    /// Share of all lines, relative to the other services.
    pub weight: Weight,
    /// Pods of this service; about a tenth of them (at least one) are staging.
    pub host_count: u32,
    /// Values of the `component` tag.
    pub components: &'static [&'static str],
    /// URL paths; `#` stands for a numeric id.
    pub routes: &'static [&'static str],
    pub stack: StackStyle,
    /// Templates of this service only; `SHARED_TEMPLATES` apply to all.
    pub templates: &'static [(Class, Weight, &'static str)],
}

/// Regions of production pods, assigned round-robin.
pub(crate) const PROD_REGIONS: [&str; 4] =
    ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"];
/// The one region staging runs in.
pub(crate) const STAGING_REGION: &str = "us-east-2";

pub(crate) const SERVICES: &[ServiceSpec] = &[
    ServiceSpec {
        name: "api-gateway",
        weight: 20,
        host_count: 36,
        components: &["router", "ratelimit", "auth-filter", "proxy", "tls"],
        routes: &["/api/v1/orders/#", "/api/v1/cart", "/api/v2/products/#", "/api/v1/users/#/profile", "/api/v1/search", "/api/v1/checkout", "/healthz"],
        stack: StackStyle::Rust { krate: "gateway" },
        templates: &[
            (Class::Info, 4, "proxied {method} {route} to {list:upstreams} status={status} upstream_time={duration}ms client={ip}"),
            (Class::Warn, 2, "rate limit exceeded for client {ip} user={user}: {int:101-900} requests in 60s (limit 100)"),
            (Class::Verbose, 2, "route matched {route} -> {list:upstreams} via rule #{int:1-40}"),
        ],
    },
    ServiceSpec {
        name: "auth",
        weight: 9,
        host_count: 14,
        components: &["session", "token", "oauth", "password", "mfa"],
        routes: &["/oauth/token", "/oauth/authorize", "/v1/sessions/#", "/v1/login", "/v1/mfa/verify"],
        stack: StackStyle::Rust { krate: "auth" },
        templates: &[
            (Class::Info, 3, "user {user} logged in via {password|oauth:google|oauth:github|sso|passkey} from {ip}"),
            (Class::Info, 2, "issued access token for {user} scope=\"{read write|read|admin|payments:write}\" expires_in=3600s"),
            (Class::Warn, 2, "failed login for {user} from {ip}: invalid credentials ({int:1-9} attempts)"),
            (Class::Error, 1, "token validation failed for {user}: signature mismatch (kid={hex:8})"),
        ],
    },
    ServiceSpec {
        name: "billing",
        weight: 4,
        host_count: 8,
        components: &["invoice", "ledger", "tax", "dunning"],
        routes: &["/v1/invoices/#", "/v1/accounts/#/balance", "/v1/ledger/entries"],
        stack: StackStyle::Java { package: "billing" },
        templates: &[
            (Class::Info, 3, "invoice INV-{int:100000-999999} generated for account acct_{hex:10} amount={int:1-9999}.{int:10-99} {USD|EUR|GBP|JPY}"),
            (Class::Warn, 2, "payment retry scheduled for invoice INV-{int:100000-999999} (attempt {int:2-5}) next_run_in={int:1-72}h"),
            (Class::Error, 2, "failed to post ledger entry {hex:12}: {list:reasons}"),
        ],
    },
    ServiceSpec {
        name: "checkout",
        weight: 8,
        host_count: 18,
        components: &["cart", "pricing", "promo", "order"],
        routes: &["/v1/cart/#", "/v1/cart/#/items", "/v1/orders", "/v1/orders/#/confirm"],
        stack: StackStyle::Java { package: "checkout" },
        templates: &[
            (Class::Info, 3, "order ORD-{int:10000000-99999999} placed by {user}: {int:1-12} items total={int:5-900}.{int:10-99} {USD|EUR|GBP}"),
            (Class::Verbose, 2, "applied promo code {SPRING|WELCOME|VIP|FREESHIP}{int:10-50} to cart {hex:12}: discount={int:1-80}.00"),
            (Class::Warn, 2, "cart {hex:12} has item SKU-{int:10000-99999} out of stock, removing"),
        ],
    },
    ServiceSpec {
        name: "search",
        weight: 10,
        host_count: 20,
        components: &["query", "indexer", "ranker", "suggest"],
        routes: &["/v1/search", "/v1/suggest", "/v1/index/#/refresh"],
        stack: StackStyle::Rust { krate: "search" },
        templates: &[
            (Class::Info, 4, "search q=\"{list:queries}\" results={int:0-5000} took {duration}ms shard_hits={int:1-32}/32"),
            (Class::Verbose, 2, "reranked {int:10-200} candidates with model {list:models} in {duration}ms"),
            (Class::Warn, 1, "index {products|articles|users}-v{int:3-9} refresh lagging by {int:2-120}s"),
        ],
    },
    ServiceSpec {
        name: "inventory",
        weight: 6,
        host_count: 10,
        components: &["stock", "reservation", "warehouse-sync"],
        routes: &["/v1/stock/#", "/v1/reservations", "/v1/reservations/#"],
        stack: StackStyle::Java { package: "inventory" },
        templates: &[
            (Class::Info, 3, "reserved {int:1-10} units of SKU-{int:10000-99999} in warehouse {list:warehouses} for order ORD-{int:10000000-99999999}"),
            (Class::Warn, 2, "stock level for SKU-{int:10000-99999} below threshold: {int:0-9} remaining in {list:warehouses}"),
            (Class::Verbose, 2, "sync batch {int:1-9999} from {list:warehouses}: {int:10-2000} rows upserted in {duration}ms"),
        ],
    },
    ServiceSpec {
        name: "notifications",
        weight: 5,
        host_count: 10,
        components: &["email", "sms", "push", "templates"],
        routes: &["/v1/notify", "/v1/templates/#"],
        stack: StackStyle::Rust { krate: "notifications" },
        templates: &[
            (Class::Info, 3, "sent {email|sms|push} notification {list:notification_kinds} to {user} via {list:providers} in {duration}ms"),
            (Class::Warn, 1, "provider {list:providers} throttled us: retry after {int:1-60}s, {int:10-5000} messages queued"),
            (Class::Error, 2, "failed to deliver {email|sms|push} to {user}: {list:reasons}"),
        ],
    },
    ServiceSpec {
        name: "payments",
        weight: 5,
        host_count: 12,
        components: &["gateway", "fraud", "refunds", "settlement"],
        routes: &["/v1/charges", "/v1/charges/#", "/v1/refunds", "/v1/payment_intents/#/confirm"],
        stack: StackStyle::Java { package: "payments" },
        templates: &[
            (Class::Info, 3, "charge ch_{hex:24} succeeded amount={int:100-99999} currency={usd|eur|gbp} card=****{int:1000-9999} in {duration}ms"),
            (Class::Warn, 1, "fraud score {int:70-95} for payment pi_{hex:24} from {ip}, sending to manual review"),
            (Class::Error, 2, "charge ch_{hex:24} declined: {card_declined|insufficient_funds|expired_card|processing_error} (code {int:1000-2999})"),
        ],
    },
    ServiceSpec {
        name: "user-profile",
        weight: 6,
        host_count: 10,
        components: &["profile", "preferences", "avatar"],
        routes: &["/v1/users/#", "/v1/users/#/preferences", "/v1/users/#/avatar"],
        stack: StackStyle::Rust { krate: "profile" },
        templates: &[
            (Class::Info, 2, "profile updated for {user}: fields=[{list:profile_fields}] version={int:1-300}"),
            (Class::Verbose, 3, "loaded preferences for {user} from {cache|db} in {duration}ms"),
        ],
    },
    ServiceSpec {
        name: "recommendations",
        weight: 5,
        host_count: 14,
        components: &["model", "features", "cache"],
        routes: &["/v1/recommendations/#", "/v1/similar/#"],
        stack: StackStyle::Rust { krate: "recs" },
        templates: &[
            (Class::Info, 3, "served {int:5-50} recommendations for {user} model={list:models} candidates={int:100-5000} in {duration}ms"),
            (Class::Verbose, 2, "feature vector for {user} has {int:64-512} dims, {int:0-12} missing, imputed with defaults"),
            (Class::Warn, 2, "model {list:models} inference latency {duration}ms exceeded budget 150ms, falling back to popular items"),
        ],
    },
    ServiceSpec {
        name: "shipping",
        weight: 3,
        host_count: 8,
        components: &["rates", "labels", "tracking"],
        routes: &["/v1/shipments/#", "/v1/rates", "/v1/labels/#"],
        stack: StackStyle::Java { package: "shipping" },
        templates: &[
            (Class::Info, 2, "label created for shipment SHP{int:100000000-999999999} carrier={UPS|FedEx|DHL|USPS} weight={int:1-40}.{int:0-9}kg"),
            (Class::Info, 2, "tracking update SHP{int:100000000-999999999}: {in_transit|out_for_delivery|delivered|exception} at {list:warehouses}"),
        ],
    },
    ServiceSpec {
        name: "catalog",
        weight: 6,
        host_count: 12,
        components: &["products", "images", "categories"],
        routes: &["/v2/products/#", "/v2/categories/#", "/v2/products/#/images"],
        stack: StackStyle::Rust { krate: "catalog" },
        templates: &[
            (Class::Info, 2, "product SKU-{int:10000-99999} updated: price {int:1-999}.{int:10-99} -> {int:1-999}.{int:10-99}, {int:0-400} in stock"),
            (Class::Verbose, 2, "resized image {hex:16}.jpg to {int:100-1600}x{int:100-1600} in {duration}ms ({bytes} bytes)"),
        ],
    },
    ServiceSpec {
        name: "frontend-ssr",
        weight: 8,
        host_count: 20,
        components: &["render", "assets", "session"],
        routes: &["/", "/products/#", "/cart", "/checkout", "/account/orders/#", "/search"],
        stack: StackStyle::Rust { krate: "storefront" },
        templates: &[
            (Class::Info, 3, "rendered {route} in {duration}ms (ssr, {int:3-40} components, {bytes} bytes html)"),
            (Class::Warn, 1, "hydration mismatch on {route}: server rendered {int:1-20} nodes, client expected {int:1-20}"),
        ],
    },
    ServiceSpec {
        name: "media-transcoder",
        weight: 2,
        host_count: 6,
        components: &["ffmpeg", "queue", "upload"],
        routes: &["/v1/jobs", "/v1/jobs/#"],
        stack: StackStyle::Rust { krate: "transcoder" },
        templates: &[
            (Class::Info, 2, "transcoded {hex:16}.mp4 {1080p|720p|480p|4k} -> hls in {int:2-600}.{int:0-9}s bitrate={int:800-12000}kbps"),
            (Class::Error, 2, "ffmpeg exited with status {int:1-255} for job {hex:12}: {list:reasons}"),
        ],
    },
    ServiceSpec {
        name: "scheduler",
        weight: 1,
        host_count: 4,
        components: &["cron", "leader", "jobs"],
        routes: &["/v1/jobs/#/run", "/v1/leader"],
        stack: StackStyle::Java { package: "scheduler" },
        templates: &[
            (Class::Info, 3, "job {list:jobs} run {int:1-99999} finished in {duration}ms next_run={int:1-59}m"),
            (Class::Warn, 1, "job {list:jobs} skipped: previous run still active after {int:5-120}m"),
            (Class::Info, 1, "leader election: this node is {leader|follower} term={int:1-900}"),
        ],
    },
    ServiceSpec {
        name: "analytics-ingest",
        weight: 6,
        host_count: 16,
        components: &["collector", "batcher", "kafka-producer"],
        routes: &["/collect", "/v1/events/batch"],
        stack: StackStyle::Rust { krate: "collector" },
        templates: &[
            (Class::Info, 3, "flushed batch of {int:100-50000} events to topic {list:topics} partition {int:0-47} in {duration}ms ({bytes} bytes)"),
            (Class::Warn, 1, "consumer lag on {list:topics}: {int:1000-900000} messages behind"),
            (Class::Verbose, 2, "dropped {int:1-40} malformed events from {ip}: missing field \"{event_id|timestamp|user_id}\""),
        ],
    },
];

/// Templates every service uses besides its own.
pub(crate) const SHARED_TEMPLATES: &[(Class, Weight, &str)] = &[
    (Class::Info, 6, "{method} {route} {status} {duration}ms {bytes}B ip={ip}"),
    (Class::Info, 3, "request completed method={method} path={route} status={status} duration_ms={duration} bytes={bytes}"),
    (Class::Info, 1, "health check passed: {list:dependencies} reachable, latency {duration}ms"),
    (Class::Info, 2, "request completed in {duration}ms"),
    (Class::Info, 1, "{GET|POST} {route} {status}"),
    (Class::Info, 1, "{connection closed|worker started|config reloaded|leader lease renewed}"),
    (Class::Verbose, 3, "cache {hit|miss} key={list:cache_prefixes}:{int:1-999999} ttl={int:30-3600}s"),
    (Class::Verbose, 3, "query took {duration}ms rows={int:0-500}: SELECT {list:columns} FROM {list:tables} WHERE id = {int:1-9999999}"),
    (Class::Verbose, 2, "span {hex:16} started op={list:operations} parent={hex:16}"),
    (Class::Verbose, 1, "acquired connection from pool {primary|replica} idle={int:0-20} active={int:1-50}"),
    (Class::Verbose, 2, "cache {hit|miss} {list:cache_prefixes}:{int:1-99999}"),
    (Class::Verbose, 1, "{heartbeat ok|tick|flushing metrics|gc cycle done}"),
    (Class::Warn, 3, "{method} {route} returned {status} in {duration}ms"),
    (Class::Warn, 2, "slow request: {method} {route} took {duration}ms (threshold 500ms)"),
    (Class::Warn, 2, "retrying call to {list:peers} attempt={int:1-4}/5 after error: {list:reasons}"),
    (Class::Warn, 1, "connection pool {primary|replica} near capacity: {int:45-50}/50 connections in use"),
    (Class::Warn, 1, "slow query: {duration}ms"),
    (Class::Warn, 1, "retrying in {int:1-30}s"),
    (Class::Error, 3, "{method} {route} failed with {status} after {duration}ms: {list:reasons}"),
    (Class::Error, 2, "upstream {list:peers} failed: {list:reasons}"),
    (Class::Error, 1, "unhandled error in request handler for {route}: {list:reasons}"),
    (Class::Error, 1, "{list:reasons}"),
    (Class::Error, 1, "request failed: {status}"),
];

/// Context appended to messages to reach the configured line size, as
/// services add logfmt pairs, SQL and payload excerpts to their lines. Each
/// names a different key and is used at most once per line, so the bit
/// mask of used segments fits a `u64`.
pub(crate) const PADDING_SEGMENTS: &[(Weight, &str)] = &[
    (6, " trace_id={hex:32}"),
    (6, " span_id={hex:16}"),
    (4, " attempt={int:1-3}"),
    (4, " cache={hit|miss|stale}"),
    (4, " pool={primary|replica}"),
    (4, " shard={int:0-63}"),
    (4, " tenant=t-{int:1-500}"),
    (3, " version=v{int:1-9}.{int:0-30}.{int:0-9}"),
    (3, " thread={list:threads}"),
    (3, " retries={int:0-3}"),
    (3, " db_time_ms={int:0-400}"),
    (3, " queue_depth={int:0-2000}"),
    (3, " protocol={HTTP/1.1|HTTP/2.0}"),
    (3, " build=git-{hex:7}"),
    (2, " gc_pause_ms={int:0-40}"),
    (2, " ok={true|false}"),
    (2, " client_ip={ip}"),
    (2, " path={route}"),
    (2, " feature_flags=[{list:flags}]"),
    (2, " user_agent=\"{list:user_agents}\""),
    (2, " content_type={application/json|text/html; charset=utf-8|application/grpc}"),
    (2, " latency_bucket={le_10ms|le_50ms|le_250ms|le_1s|le_inf}"),
    (2, " pod_ip=10.{int:0-255}.{int:0-255}.{int:1-254}"),
    (2, " node=ip-10-{int:0-255}-{int:0-255}-{int:1-254}.ec2.internal"),
    (2, " k8s.namespace={prod|default|payments|storefront}"),
    (2, " container_id={hex:12}"),
    (2, " tls={TLSv1.3|TLSv1.2}"),
    (2, " session_id=s_{hex:20}"),
    (2, " rows_affected={int:0-50}"),
    (2, " mem_rss_mb={int:80-3000}"),
    (2, " cpu_ms={int:0-900}"),
    (2, " locale={en-US|de-DE|fr-FR|ja-JP|pt-BR}"),
    (2, " experiment={checkout_v2|control|ranker_b}"),
    (2, " ttl_s={int:30-86400}"),
    (1, " grpc.method=/acme.{orders|users|catalog}.v1.{Orders|Users|Catalog}/{Get|List|Create}"),
    (1, " referer=\"https://shop.example.com/{products|cart|search}\""),
    (1, " idempotency_key={hex:24}"),
    (1, " sql=\"SELECT {list:columns} FROM {list:tables} WHERE {list:columns} = $1 AND created_at > now() - interval '{int:1-30} days' LIMIT {int:10-500}\""),
    (1, " headers={{accept: application/json, x-forwarded-for: {ip}, content-length: {int:0-90000}}}"),
    (1, " payload={{\"id\":\"{hex:12}\",\"items\":[{{\"sku\":\"SKU-{int:10000-99999}\",\"qty\":{int:1-5}}}],\"currency\":\"{USD|EUR}\"}}"),
    (1, " note=\"{list:notes}\""),
];
const _: () = assert!(PADDING_SEGMENTS.len() <= 64);

/// Past the padding segments, long lines list the items of a batch, one
/// `<name>[<n>]=<entry>` per item, as batch jobs and request dumps do.
pub(crate) const ITEM_SEGMENTS: &[(&str, &str)] = &[
    ("item", "{{sku=SKU-{int:10000-99999} qty={int:1-5} price={int:1-499}.{int:10-99} warehouse={list:warehouses}}}"),
    ("event", "{{type={list:event_types} offset_ms={int:0-60000} page=/{products|cart|search|home}}}"),
    ("row", "{{id={int:1-9999999} status={pending|paid|shipped|refunded} total_cents={int:100-99999} updated_at=2024-03-{int:10-28}T{int:10-23}:{int:10-59}:{int:10-59}Z}}"),
];

/// The named word lists `{list:NAME}` draws from.
pub(crate) fn list(name: &str) -> Option<&'static [&'static str]> {
    let words: &'static [&'static str] = match name {
        "upstreams" => &["checkout:8080", "catalog:8080", "search:9200", "auth:8443", "user-profile:8080", "recommendations:7000"],
        "reasons" => &[
            "connection reset by peer",
            "timeout after 5000ms",
            "context deadline exceeded",
            "connection refused (os error 111)",
            "broken pipe",
            "too many open files",
            "deadlock detected",
            "duplicate key value violates unique constraint \"orders_pkey\"",
            "upstream connect error or disconnect/reset before headers",
            "no healthy upstream",
            "TLS handshake timeout",
            "read tcp 10.4.2.17:48812->10.4.9.3:5432: i/o timeout",
            "unexpected EOF while reading response body",
            "503 Service Unavailable",
            "invalid character '<' looking for beginning of value",
            "pool timed out while waiting for an open connection",
        ],
        "peers" => &[
            "postgres-primary.db.internal:5432",
            "postgres-replica-2.db.internal:5432",
            "redis-cache-1.internal:6379",
            "kafka-2.kafka.svc:9092",
            "http://billing.svc.cluster.local:8080",
            "http://inventory.svc.cluster.local:8080",
            "https://api.stripe.com/v1/charges",
            "s3.us-east-1.amazonaws.com",
        ],
        "dependencies" => &["postgres, redis", "postgres, redis, kafka", "redis", "elasticsearch", "s3, postgres"],
        "cache_prefixes" => &["user", "session", "product", "cart", "price", "feature", "rate"],
        "columns" => &["id", "user_id", "status", "created_at", "updated_at", "total_cents", "sku", "email"],
        "tables" => &["orders", "users", "sessions", "products", "invoices", "order_items", "payments", "events"],
        "operations" => &["http.request", "db.query", "cache.get", "kafka.produce", "grpc.call", "render"],
        "queries" => &["running shoes", "wireless headphones", "usb c cable", "coffee grinder", "gift card", "winter jacket", "laptop stand", "yoga mat"],
        "models" => &["ranker-v12", "ranker-v13-canary", "two-tower-2024-03", "popularity-fallback"],
        "warehouses" => &["FRA1", "AMS2", "IAD3", "SFO1", "SIN1", "DFW2"],
        "notification_kinds" => &["order_confirmation", "shipping_update", "password_reset", "weekly_digest", "cart_reminder"],
        "providers" => &["ses", "sendgrid", "twilio", "fcm", "apns"],
        "profile_fields" => &["display_name", "locale", "timezone", "avatar_url", "marketing_opt_in"],
        "jobs" => &["nightly-invoices", "reindex-products", "expire-sessions", "sync-warehouses", "send-digests"],
        "topics" => &["events.pageview", "events.click", "events.purchase", "events.search"],
        "threads" => &["tokio-runtime-worker", "http-nio-8080-exec-7", "pool-3-thread-2", "main", "grpc-default-executor-4"],
        "flags" => &["new_checkout", "ranker_v13", "dark_mode", "fast_shipping", "beta_search"],
        "user_agents" => &[
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
            "okhttp/4.12.0",
            "python-requests/2.31.0",
            "Go-http-client/1.1",
        ],
        "event_types" => &["pageview", "click", "add_to_cart", "search", "purchase", "scroll"],
        "notes" => &[
            "retry budget exhausted for this request",
            "served from stale cache while revalidating",
            "client closed connection before response",
            "request forwarded from legacy endpoint",
            "idempotency key reused, returning previous result",
        ],
        _ => return None,
    };
    Some(words)
}
