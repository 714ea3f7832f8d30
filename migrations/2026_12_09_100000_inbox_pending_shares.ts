import { sql, type Kysely } from 'kysely';

/**
 * Each queued event carries its object's share (`webhook_pending.share`), so a worker's lanes can
 * claim disjoint sets of objects.
 *
 * Every batch a lane applies locks its objects' mirror rows until it commits. Lanes claiming from
 * one queue took batches about the same objects (a backlog of changes to a thousand contacts puts
 * most of them in every batch), so each lane's mirror statements waited for the other's commit and
 * the lanes applied one at a time. A lane now takes the events whose share falls to it first
 * (`share % lanes = lane`), which the claim reads from the queue row itself, without looking up the
 * events of other lanes.
 *
 * The share is a hash of the event's object (portal, type, id), written by the queueing trigger
 * and by the operator's retry through `webhook_object_share`, the one place that computes it. A
 * row queued without it (a receiver or worker of an earlier release during a deploy) has share 0
 * and is still claimed: lanes fill short batches from the others' shares.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create function webhook_object_share(portal_id bigint, object_type text, object_id text) returns integer
    language sql immutable parallel safe as $$
      select hashtext(coalesce(portal_id::text, '') || '/' || coalesce(object_type, '') || '/' || coalesce(object_id, '')) & 2147483647
    $$`.execute(db);
  // A constant default: no rewrite of the table, however long the queue.
  await sql`alter table webhook_pending add column share integer not null default 0`.execute(db);
  await sql`create or replace function webhook_events_queue() returns trigger language plpgsql as $$
    begin
      insert into webhook_pending (id, share)
      select id, webhook_object_share(portal_id, object_type, object_id) from stored where processed_at is null and failed_at is null;
      return null;
    end $$`.execute(db);
  await sql`update webhook_pending p set share = webhook_object_share(e.portal_id, e.object_type, e.object_id)
    from webhook_events e where e.id = p.id`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create or replace function webhook_events_queue() returns trigger language plpgsql as $$
    begin
      insert into webhook_pending (id) select id from stored where processed_at is null and failed_at is null;
      return null;
    end $$`.execute(db);
  await sql`alter table webhook_pending drop column share`.execute(db);
  await sql`drop function webhook_object_share(bigint, text, text)`.execute(db);
}
