#!/usr/bin/env bash
# The search plugin at 100,000 documents: how long FT.CREATE's background scan takes to index
# existing hashes, FT.SEARCH requests per second for a term, a prefix, a phrase, a numeric
# range, a tag and a combined query (LIMIT 0 10, the default), and what an index costs HSET
# (the same HSETs on keys the index covers, before and after FT.CREATE).
#
# No RediSearch and no RESPlite run here (neither is installable on these machines), so the
# figures stand alone: compare them between commits.
#
#   bench/search.sh                 # 100,000 documents
#   DOCS=20000 bench/search.sh
#   RESPITE_BIN=path bench/search.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS=${DOCS:-100000}
REQUESTS=${REQUESTS:-500}
HSETS=${HSETS:-100000}
if [ -z "${RESPITE_BIN:-}" ]; then
    cargo build --release --quiet --bin respite
    RESPITE_BIN=target/release/respite
fi
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
printf '[plugins]\nenabled = ["blocking", "search"]\n' > "$dir/respite.toml"
"$RESPITE_BIN" --config "$dir/respite.toml" --bind 127.0.0.1 --port "$port" --db "$dir/data.db" >/dev/null 2>&1 &
pids+=($!)
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
cli() { redis-cli -p "$port" "$@"; }

# Documents: a title of 3 and a body of 12 words drawn (Zipf-like) from 2,000, a price,
# a category tag. Written with redis-cli --pipe.
python3 - "$DOCS" "$dir/rare" > "$dir/fill.resp" <<'EOF'
import random, sys
n = int(sys.argv[1])
rng = random.Random(42)
syll = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "ga", "vo", "zu", "be", "chi", "fa"]
vocab = sorted({rng.choice(syll) + rng.choice(syll) + rng.choice(syll) for _ in range(4000)})[:2000]
vocab[0:4] = ["hello", "world", "quick", "brown"]
weights = [1.0 / (i + 1) for i in range(len(vocab))]
open(sys.argv[2], "w").write(vocab[-1])
cats = ["books", "shoes", "music", "garden", "toys", "tools", "food", "games"]
def words(k):
    return " ".join(rng.choices(vocab, weights, k=k))
out = sys.stdout
for i in range(n):
    args = ["HSET", f"doc:{i}", "title", words(3), "body", words(12),
            "price", str(rng.randint(0, 10000)), "cat", rng.choice(cats)]
    out.write(f"*{len(args)}\r\n")
    for a in args:
        out.write(f"${len(a.encode())}\r\n{a}\r\n")
EOF
cli --pipe < "$dir/fill.resp" >/dev/null
echo "documents: $(cli dbsize)"

rps() { redis-benchmark -p "$port" -c 10 -n "$1" --csv "${@:2}" | tail -1 | cut -d, -f2 | tr -d '"'; }
hset_args=(HSET "doc:__rand_int__" title "hello quick world" body "brown fox jumps" price __rand_int__ cat books)
no_index=$(redis-benchmark -p "$port" -c 50 -n "$HSETS" -r "$DOCS" -P 16 --csv "${hset_args[@]}" | tail -1 | cut -d, -f2 | tr -d '"')
no_index_p1=$(redis-benchmark -p "$port" -c 50 -n "$HSETS" -r "$DOCS" --csv "${hset_args[@]}" | tail -1 | cut -d, -f2 | tr -d '"')

start=$(date +%s.%N)
cli FT.CREATE idx ON HASH PREFIX 1 doc: SCHEMA title TEXT WEIGHT 2 body TEXT price NUMERIC SORTABLE cat TAG >/dev/null
until [ "$(cli FT.INFO idx | awk 'prev=="indexing" {print; exit} {prev=$0}')" = "0" ]; do sleep 0.2; done
end=$(date +%s.%N)
indexing_s=$(python3 -c "print(round($end - $start, 1))")
echo "initial scan of $DOCS documents: ${indexing_s}s; num_docs $(cli FT.INFO idx | awk 'prev=="num_docs" {print; exit} {prev=$0}')"

with_index=$(redis-benchmark -p "$port" -c 50 -n "$HSETS" -r "$DOCS" -P 16 --csv "${hset_args[@]}" | tail -1 | cut -d, -f2 | tr -d '"')
with_index_p1=$(redis-benchmark -p "$port" -c 50 -n "$HSETS" -r "$DOCS" --csv "${hset_args[@]}" | tail -1 | cut -d, -f2 | tr -d '"')

printf '\n| HSET (50 clients) | pipeline | rps |\n| --- | ---: | ---: |\n'
printf '| no index | 1 | %s |\n| no index | 16 | %s |\n| with index | 1 | %s |\n| with index | 16 | %s |\n' \
    "$no_index_p1" "$no_index" "$with_index_p1" "$with_index"

printf '\n| FT.SEARCH (10 clients, LIMIT 0 10) | matches | rps |\n| --- | ---: | ---: |\n'
query() {
    local label=$1; shift
    local total
    total=$(cli FT.SEARCH idx "$@" LIMIT 0 0)
    total=${total%%$'\n'*}
    printf '| %s | %s | %s |\n' "$label" "$total" "$(rps "$REQUESTS" FT.SEARCH idx "$@")"
}
rare=$(cat "$dir/rare")
query "common term \`hello\`" hello
query "rare term \`$rare\`" "$rare"
query "prefix \`hel*\`" 'hel*'
query "phrase \`\"hello world\"\`" '"hello world"'
query "numeric \`@price:[100 200]\`" '@price:[100 200]'
query "tag \`@cat:{shoes}\`" '@cat:{shoes}'
query "combined \`hello @price:[0 5000] @cat:{books}\`" 'hello @price:[0 5000] @cat:{books}'
query "sorted \`@cat:{toys}\` SORTBY price" '@cat:{toys}' SORTBY price
query "NOCONTENT \`quick\`" quick NOCONTENT
