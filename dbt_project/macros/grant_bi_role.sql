{#
    on-run-end: the read-only BI role (var bi_role) may read placewise_marts and
    placewise_audit, and nothing in placewise_raw, placewise_ops or placewise_staging.
    Run after every invocation, so tables dbt re-created in this run are granted again.
    The model schemas are named as generate_schema_name names them, so a dev target grants
    on its own prefixed schemas and leaves the production ones alone.
    Audit views that read other schemas work for the role because views run with
    their owner's rights.

    PostgreSQL grants TEMPORARY on every database to PUBLIC, so without more a BI login
    could create temp tables (and fill the disk). Where the running user owns the database
    (or is a superuser) the block revokes TEMPORARY from PUBLIC on the current database;
    the owner keeps it, so dbt's own temp relations still work. Otherwise the revoke is
    left out (a non-owner's REVOKE would only warn) and placewise_public_temp_advice() logs
    the statement for the database owner to run.
#}
{% macro placewise_grant_bi_role() -%}
    {%- set role = var('bi_role', 'placewise_bi') -%}
    {%- set readable = [
        generate_schema_name('placewise_marts', none) | trim,
        generate_schema_name('placewise_audit', none) | trim,
    ] -%}
    {%- set forbidden = [
        'placewise_raw', 'placewise_ops', generate_schema_name('placewise_staging', none) | trim
    ] -%}
    {%- do placewise_public_temp_advice() -%}
    do $placewise_grants$
    declare
        schema_name text;
    begin
        if not exists (select 1 from pg_roles where rolname = '{{ role }}') then
            begin
                create role "{{ role }}" nologin;
            exception when duplicate_object or unique_violation then
                null;  -- created concurrently by another run
            end;
        end if;
        foreach schema_name in array array['{{ readable | join("', '") }}'] loop
            if exists (select 1 from pg_namespace where nspname = schema_name) then
                execute format('grant usage on schema %I to %I', schema_name, '{{ role }}');
                execute format(
                    'grant select on all tables in schema %I to %I', schema_name, '{{ role }}'
                );
                execute format(
                    'alter default privileges in schema %I grant select on tables to %I',
                    schema_name, '{{ role }}'
                );
            end if;
        end loop;
        foreach schema_name in array array['{{ forbidden | join("', '") }}'] loop
            if exists (select 1 from pg_namespace where nspname = schema_name) then
                execute format(
                    'revoke all on all tables in schema %I from %I', schema_name, '{{ role }}'
                );
                execute format(
                    'revoke all on all sequences in schema %I from %I', schema_name, '{{ role }}'
                );
                execute format('revoke all on schema %I from %I', schema_name, '{{ role }}');
            end if;
        end loop;
        if exists (
            select 1
            from pg_database as db
            where
                db.datname = current_database()
                and (
                    pg_has_role(current_user, db.datdba, 'USAGE')
                    or (select rolsuper from pg_roles where rolname = current_user)
                )
        ) then
            begin
                execute format(
                    'revoke temporary on database %I from public', current_database()
                );
            exception when insufficient_privilege then
                raise warning
                    'could not revoke temporary on database % from public', current_database();
            end;
        end if;
    end
    $placewise_grants$
{%- endmacro %}

{#
    The same grants as a run-operation (`dbt run-operation grant_bi_role`): Airflow runs
    the models one task per model, where on-run-end hooks do not fire, so the DAGs call
    this once after the models are built.
#}
{% macro grant_bi_role() -%}
    {% do run_query(placewise_grant_bi_role()) %}
    {{ log("granted read access on placewise_marts and placewise_audit to "
           ~ var('bi_role', 'placewise_bi'), info=True) }}
{%- endmacro %}


{#
    Before the grants run: if PUBLIC may create temp tables in this database and the running
    user can not revoke that (neither its owner nor a superuser), log the statement the
    owner should run. Uses the same test as the DO block above.
#}
{% macro placewise_public_temp_advice() -%}
    {%- if execute -%}
        {%- set result = run_query(
            "select db.datname as database_name,"
            ~ " has_database_privilege('public', db.datname, 'TEMPORARY') as public_temp,"
            ~ " (pg_has_role(current_user, db.datdba, 'USAGE')"
            ~ " or (select rolsuper from pg_roles where rolname = current_user)) as can_revoke"
            ~ " from pg_database as db where db.datname = current_database()"
        ) -%}
        {%- set row = result.rows[0] -%}
        {%- if row['public_temp'] and not row['can_revoke'] -%}
            {{ log(
                "PUBLIC (and so " ~ var('bi_role', 'placewise_bi') ~ ") may still create temp "
                ~ "tables in database " ~ row['database_name'] ~ ": " ~ target.user
                ~ " does not own it. As its owner or a superuser run: revoke temporary on "
                ~ 'database "' ~ row['database_name'] ~ '" from public;',
                info=True
            ) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
