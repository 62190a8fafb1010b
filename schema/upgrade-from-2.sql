-- Schema 2 -> 3: senders and drain windows.  rpc_methods gains the columns
-- after negotiated, each with the text rpcver.sql gives it (rpc_verify()
-- compares the table with rpcver's own definition, token by token), in the
-- same order.  rpcver.sql runs after this: it creates rpc_sender_ranges, the
-- new triggers and views, and the drain_default setting.
ALTER TABLE main.rpc_methods ADD COLUMN senders INTEGER NOT NULL DEFAULT 0;
ALTER TABLE main.rpc_methods ADD COLUMN min_slo INTEGER;
ALTER TABLE main.rpc_methods ADD COLUMN max_slo INTEGER;
ALTER TABLE main.rpc_methods ADD COLUMN min_shi INTEGER;
ALTER TABLE main.rpc_methods ADD COLUMN max_shi INTEGER;
ALTER TABLE main.rpc_methods ADD COLUMN drain INTEGER;
ALTER TABLE main.rpc_methods ADD COLUMN inflight_lo INTEGER;
ALTER TABLE main.rpc_methods ADD COLUMN inflight_hi INTEGER;
ALTER TABLE main.rpc_methods ADD COLUMN inflight_until INTEGER;
ALTER TABLE main.rpc_methods ADD COLUMN send_lo INTEGER GENERATED ALWAYS AS (
    CASE WHEN senders > 0 AND negotiated IS NOT NULL
         THEN max(min_slo, max_lo) END) VIRTUAL;
ALTER TABLE main.rpc_methods ADD COLUMN send_hi INTEGER GENERATED ALWAYS AS (
    CASE WHEN senders > 0 AND negotiated IS NOT NULL
         THEN min(max_shi, negotiated) END) VIRTUAL;
