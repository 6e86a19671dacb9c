/* Operational routes: /healthz, /readyz, /metrics (Prometheus text), the store list, and GC. */
#include <stdio.h>
#include <string.h>

#include "server_int.h"

static const char *const route_names[R_COUNT] = {"healthz", "metrics", "push", "pull", "events",
						  "stores", "gc", "static", "flush", "query", "lake", "import", "iceberg", "other"};

void route_health(server *s, http_req *req, http_resp *resp)
{
	ids_buf_printf(&resp->body, "{\"ok\":true,\"head\":%lld,\"epoch\":\"%s\"}", (long long)ledger_head(s->lg),
		       ledger_epoch(s->lg));
	resp->status = 200;
}

/* Readiness: 503 while the lake holds a table or a change it could not write, or its last
 * flush failed (the body names them); liveness is /healthz. */
void route_ready(server *s, http_req *req, http_resp *resp)
{
	(void)req;
	int bad = 0;
	ids_buf_printf(&resp->body, "{\"head\":%lld,\"lake\":", (long long)ledger_head(s->lg));
	if (s->o.hooks.health)
		bad = s->o.hooks.health(s->o.hooks.ctx, &resp->body);
	else
		ids_buf_puts(&resp->body, "null");
	ids_buf_puts(&resp->body, bad ? ",\"ready\":false}" : ",\"ready\":true}");
	resp->status = bad ? 503 : 200;
}

void route_metrics(server *s, http_req *req, http_resp *resp)
{
	const ledger_stats *st = ledger_get_stats(s->lg);
	ids_buf *o = &resp->body;
	resp->ctype = "text/plain; version=0.0.4";
	ids_buf_puts(o, "# HELP idbsync_http_requests_total HTTP requests by route and status class.\n"
			"# TYPE idbsync_http_requests_total counter\n");
	for (int r = 0; r < R_COUNT; r++)
		for (int c = 1; c <= 5; c++) {
			long long v = atomic_load(&s->requests[r][c]);
			if (v)
				ids_buf_printf(o, "idbsync_http_requests_total{route=\"%s\",code=\"%dxx\"} %lld\n",
					       route_names[r], c, v);
		}
	ids_buf_printf(o,
		       "# TYPE idbsync_mutations_applied_total counter\nidbsync_mutations_applied_total %lld\n"
		       "# TYPE idbsync_mutations_duplicate_total counter\nidbsync_mutations_duplicate_total %lld\n"
		       "# TYPE idbsync_conflicts_total counter\nidbsync_conflicts_total %lld\n"
		       "# TYPE idbsync_pushes_total counter\nidbsync_pushes_total %lld\n"
		       "# TYPE idbsync_pulls_total counter\nidbsync_pulls_total %lld\n"
		       "# TYPE idbsync_tombstones_collected_total counter\nidbsync_tombstones_collected_total %lld\n"
		       "# TYPE idbsync_request_bytes_total counter\nidbsync_request_bytes_total %lld\n"
		       "# TYPE idbsync_sse_clients gauge\nidbsync_sse_clients %d\n"
		       "# TYPE idbsync_inflight_response_bytes gauge\nidbsync_inflight_response_bytes %lld\n"
		       "# TYPE idbsync_busy_rejects_total counter\nidbsync_busy_rejects_total %lld\n"
		       "# TYPE idbsync_head_seq gauge\nidbsync_head_seq %lld\n",
		       (long long)atomic_load(&st->mutations_applied), (long long)atomic_load(&st->mutations_duplicate),
		       (long long)atomic_load(&st->conflicts), (long long)atomic_load(&st->pushes),
		       (long long)atomic_load(&st->pulls), (long long)atomic_load(&st->tombstones_collected),
		       (long long)atomic_load(&s->bytes_in), atomic_load(&s->sse_clients),
		       (long long)atomic_load(&s->inflight_bytes), (long long)atomic_load(&s->busy_rejects),
		       (long long)ledger_head(s->lg));
	ids_buf_printf(o, "# HELP idbsync_waiting_requests Long-polls and SSE streams parked until a change (they hold no thread).\n"
			  "# TYPE idbsync_waiting_requests gauge\nidbsync_waiting_requests %d\n"
			  "# HELP idbsync_busy_requests Requests handed to a worker or waiting (parked, or a push in its group commit).\n"
			  "# TYPE idbsync_busy_requests gauge\nidbsync_busy_requests %d\n",
		       parking_count(s->park), atomic_load(&s->suspended));
	long long builds, shared;
	fanout_counts(s->fan, &builds, &shared);
	ids_buf_printf(o, "# HELP idbsync_live_pages_built_total Pull pages and SSE frames built from the ledger.\n"
			  "# TYPE idbsync_live_pages_built_total counter\nidbsync_live_pages_built_total %lld\n"
			  "# HELP idbsync_live_pages_shared_total Answers that shared a page another waiter built.\n"
			  "# TYPE idbsync_live_pages_shared_total counter\nidbsync_live_pages_shared_total %lld\n"
			  "# HELP idbsync_bulk_pages_total Large pull pages and SSE frames built on the bulk workers.\n"
			  "# TYPE idbsync_bulk_pages_total counter\nidbsync_bulk_pages_total %lld\n",
		       builds, shared, (long long)atomic_load(&s->bulk_builds));
	ids_buf_printf(o, "# HELP idbsync_push_stage_seconds_total Time pushes spent per stage, summed: parse (checking the "
			  "body; a streamed push's beside the writer's apply), queue (waiting for the writer), apply (the "
			  "writer's statements before the commit), wake (from the commit to the thread that answers); "
			  "for the transport: receive (the headers to the whole body), dispatch (to a request worker), send (the "
			  "answer ready to sent).\n"
			  "# TYPE idbsync_push_stage_seconds_total counter\n"
			  "idbsync_push_stage_seconds_total{stage=\"parse\"} %.6f\n"
			  "idbsync_push_stage_seconds_total{stage=\"queue\"} %.6f\n"
			  "idbsync_push_stage_seconds_total{stage=\"apply\"} %.6f\n"
			  "idbsync_push_stage_seconds_total{stage=\"wake\"} %.6f\n"
			  "idbsync_push_stage_seconds_total{stage=\"receive\"} %.6f\n"
			  "idbsync_push_stage_seconds_total{stage=\"dispatch\"} %.6f\n"
			  "idbsync_push_stage_seconds_total{stage=\"send\"} %.6f\n"
			  "# HELP idbsync_pushes_streamed_total Pushes queued for the writer while still being parsed.\n"
			  "# TYPE idbsync_pushes_streamed_total counter\nidbsync_pushes_streamed_total %lld\n",
		       (double)atomic_load(&s->push_parse_us) / 1e6, (double)atomic_load(&st->push_queue_us) / 1e6,
		       (double)atomic_load(&st->push_apply_us) / 1e6, (double)atomic_load(&s->push_wake_us) / 1e6,
		       (double)atomic_load(&s->push_recv_us) / 1e6, (double)atomic_load(&s->push_dispatch_us) / 1e6,
		       (double)atomic_load(&s->push_send_us) / 1e6,
		       (long long)atomic_load(&st->pushes_streamed));
	ids_buf_printf(o, "# HELP idbsync_wal_checkpoint_frames_total WAL frames copied into the database file, by the "
			  "checkpoint thread and by the writer's own checkpoint (which the next push waits for).\n"
			  "# TYPE idbsync_wal_checkpoint_frames_total counter\n"
			  "idbsync_wal_checkpoint_frames_total{by=\"thread\"} %lld\n"
			  "idbsync_wal_checkpoint_frames_total{by=\"writer\"} %lld\n"
			  "# HELP idbsync_wal_restarts_total Times the WAL started over at its beginning (all of it copied).\n"
			  "# TYPE idbsync_wal_restarts_total counter\nidbsync_wal_restarts_total %lld\n",
		       (long long)atomic_load(&st->ckpt_frames_thread), (long long)atomic_load(&st->ckpt_frames_writer),
		       (long long)atomic_load(&st->wal_restarts));
	ids_buf_puts(o, "# HELP idbsync_commit_seconds Group commit duration (the fsync that makes pushes durable).\n"
			"# TYPE idbsync_commit_seconds histogram\n");
	long long cum = 0;
	for (int b = 0; b < LEDGER_COMMIT_BUCKETS; b++) {
		cum += atomic_load(&st->commit_bucket[b]);
		if (b < LEDGER_COMMIT_BUCKETS - 1)
			ids_buf_printf(o, "idbsync_commit_seconds_bucket{le=\"%g\"} %lld\n", ledger_commit_bounds[b], cum);
		else
			ids_buf_printf(o, "idbsync_commit_seconds_bucket{le=\"+Inf\"} %lld\n", cum);
	}
	ids_buf_printf(o, "idbsync_commit_seconds_sum %.6f\nidbsync_commit_seconds_count %lld\n",
		       (double)atomic_load(&st->commit_us_sum) / 1e6, (long long)atomic_load(&st->commits));
	if (s->o.hooks.metrics)
		s->o.hooks.metrics(s->o.hooks.ctx, o);
	resp->status = 200;
}

void route_stores(server *s, http_req *req, http_resp *resp, const char *db)
{
	ids_error err = IDS_ERROR_INIT;
	int rc = ledger_list_json(s->lg, db, req->user, &resp->body, &err);
	if (rc)
		resp_error(resp, rc, err.msg);
	else
		resp->status = 200;
}

void route_gc(server *s, http_req *req, http_resp *resp)
{
	ids_error err = IDS_ERROR_INIT;
	long long before = atomic_load(&ledger_get_stats(s->lg)->tombstones_collected);
	int rc = ledger_gc_now(s->lg, &err);
	if (rc) {
		resp_error(resp, rc, err.msg);
		return;
	}
	ids_buf_printf(&resp->body, "{\"collected\":%lld}",
		       (long long)(atomic_load(&ledger_get_stats(s->lg)->tombstones_collected) - before));
	resp->status = 200;
}

void route_lake(server *s, http_req *req, http_resp *resp, const char *db)
{
	if (!s->o.hooks.lake_stats) {
		resp_error_status(resp, 404, "not_found", "the lake writer is not enabled on this server");
		return;
	}
	/* counts over every user's rows: with authentication on, only for admin tokens */
	if (req->user[0] && !req->admin) {
		resp_error_status(resp, 403, "forbidden", "lake statistics cover every user's rows: they need an admin token");
		return;
	}
	ids_error err = IDS_ERROR_INIT;
	int rc = s->o.hooks.lake_stats(s->o.hooks.ctx, db, &resp->body, &err);
	if (rc) {
		resp_error(resp, rc, err.msg);
		return;
	}
	resp->status = 200;
}

void route_flush(server *s, http_req *req, http_resp *resp, const char *db)
{
	if (!s->o.hooks.flush) {
		resp_error_status(resp, 404, "not_found", "the lake writer is not enabled on this server");
		return;
	}
	ids_error err = IDS_ERROR_INIT;
	int64_t upto = ledger_head_fresh(s->lg); /* every push acked before, by any server */
	int rc = s->o.hooks.flush(s->o.hooks.ctx, db, upto, &err);
	if (rc) {
		resp_error(resp, rc, err.msg);
		return;
	}
	ids_buf_printf(&resp->body, "{\"flushed\":%lld}", (long long)upto);
	resp->status = 200;
}
