--
-- embedding_fuzz: thousands of malformed and random inputs to the text and
-- binary input functions of embedding and embedding8.  Every input must be
-- accepted, and then survive a round trip unchanged, or be rejected with an
-- error that names the type or is a known binary-format error (never a
-- protocol error: a short binary value is 22P03, not 08P01).  The inputs
-- come from setseed() and fixed generators, and only counts are printed.
--
SET search_path = personalize, public;
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
CREATE SCHEMA fuzz;
-- one row per input; message and input only for the unexpected ones
CREATE TABLE fuzz.outcome (kind text, outcome text, sqlstate text,
	message text, input text);
-- generators ---------------------------------------------------------------
CREATE FUNCTION fuzz.rint(lo bigint, hi bigint) RETURNS bigint
LANGUAGE sql AS $$ SELECT lo + floor(random() * (hi - lo + 1))::bigint $$;
CREATE FUNCTION fuzz.pick(a text[]) RETURNS text
LANGUAGE sql AS $$ SELECT a[fuzz.rint(1, array_length(a, 1))] $$;
-- n characters, mostly from the alphabet of vector literals
CREATE FUNCTION fuzz.junk(n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	alphabet CONSTANT text := '[[]],,,..--++eE0123456789012345678901234567890123456789    '
		|| chr(9) || chr(10) || chr(13) || chr(11) || chr(12) || 'xpinfaNIF;_{}()''"\';
	s text := '';
BEGIN
	FOR i IN 1..n LOOP
		s := s || substr(alphabet, fuzz.rint(1, length(alphabet))::int, 1);
	END LOOP;
	RETURN s;
END $$;
CREATE FUNCTION fuzz.ws() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	IF random() < 0.7 THEN
		RETURN '';
	END IF;
	RETURN fuzz.pick(ARRAY[' ', '  ', chr(9), chr(10), chr(13), chr(11), chr(12)]);
END $$;
-- a number in one of the spellings strtof accepts, or nearly accepts
CREATE FUNCTION fuzz.rnum() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	k int := fuzz.rint(1, 20);
	sign text := fuzz.pick('{"",-,+,"",""}');
	m text := fuzz.rint(0, 99999)::text;
BEGIN
	RETURN sign || CASE
		WHEN k <= 6 THEN m
		WHEN k <= 10 THEN m || '.' || fuzz.rint(0, 999)
		WHEN k = 11 THEN '.' || m
		WHEN k = 12 THEN m || '.'
		WHEN k <= 15 THEN m || fuzz.pick('{e,E}') || fuzz.pick('{"",-,+}') || fuzz.rint(0, 45)
		WHEN k = 16 THEN '0x' || to_hex(fuzz.rint(0, 65535)) || 'p' || fuzz.rint(-160, 140)
		WHEN k = 17 THEN fuzz.pick('{inf,nan,Infinity,NaN,1e39,1e-50,3.4028235e38,3.4028236e38,1.4e-45,0x1p-149}')
		ELSE '0.' || lpad(m, fuzz.rint(5, 50)::int, '0')
	END;
END $$;
-- a vector literal whose elements come from rnum(), with stray whitespace
CREATE FUNCTION fuzz.rvec(n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	s text := fuzz.ws() || '[';
BEGIN
	FOR i IN 1..n LOOP
		IF i > 1 THEN
			s := s || ',';
		END IF;
		s := s || fuzz.ws() || fuzz.rnum() || fuzz.ws();
	END LOOP;
	RETURN s || ']' || fuzz.ws();
END $$;
-- a valid vector literal, as embedding_out would print it
CREATE FUNCTION fuzz.valid_vec(n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	s text := '[';
BEGIN
	FOR i IN 1..n LOOP
		IF i > 1 THEN
			s := s || ',';
		END IF;
		s := s || CASE fuzz.rint(1, 4)
			WHEN 1 THEN ((random() - 0.5) * 100)::real::text
			WHEN 2 THEN ((random() - 0.5) * 1e-30)::real::text
			WHEN 3 THEN ((random() - 0.5) * 1e30)::real::text
			ELSE fuzz.rint(-1000, 1000)::text
		END;
	END LOOP;
	RETURN s || ']';
END $$;
-- one random edit: truncation, duplication, inserted junk, huge exponents...
CREATE FUNCTION fuzz.mutate(s text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	n int := length(s);
	i int := fuzz.rint(1, n + 1);
	j int;
BEGIN
	CASE fuzz.rint(1, 6)
		WHEN 1 THEN
			RETURN left(s, i - 1);
		WHEN 2 THEN
			j := fuzz.rint(i, n + 1);
			RETURN left(s, j - 1) || substr(s, i, j - i) || substr(s, j);
		WHEN 3 THEN
			RETURN left(s, i - 1) || fuzz.junk(fuzz.rint(1, 3)::int) || substr(s, i);
		WHEN 4 THEN
			RETURN left(s, i - 1) || substr(s, i + 1);
		WHEN 5 THEN
			RETURN left(s, i - 1)
				|| fuzz.pick('{e39,e-50,e+38,e999,e-999,1e,nan,inf,0x1p,",",],[," "}')
				|| substr(s, i);
		ELSE
			RETURN left(s, i - 1) || fuzz.junk(1) || substr(s, i + 1);
	END CASE;
END $$;
CREATE FUNCTION fuzz.rbytes(n int) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
	b bytea := '';
BEGIN
	FOR i IN 1..n LOOP
		b := b || set_byte('\x00'::bytea, 0, fuzz.rint(0, 255)::int);
	END LOOP;
	RETURN b;
END $$;
-- a float4 on the wire: ordinary, random bits, or a special pattern
CREATE FUNCTION fuzz.rfloat4() RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
	k int := fuzz.rint(1, 10);
BEGIN
	IF k <= 6 THEN
		RETURN float4send(((random() - 0.5) * 1000)::real);
	ELSIF k <= 9 THEN
		RETURN fuzz.rbytes(4);
	END IF;
	RETURN decode(fuzz.pick('{7fc00000,7f800000,ff800000,00000001,80000000,7f7fffff,ff7fffff}'), 'hex');
END $$;
-- binary header (dims, unused) and a number of elements near dims
CREATE FUNCTION fuzz.rbinary(elem_size int) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
	dim int := CASE WHEN random() < 0.9 THEN fuzz.rint(0, 6)
		ELSE fuzz.pick('{-1,16000,16001,32767,-32768}')::int END;
	b bytea := int2send(dim::int2)
		|| CASE WHEN random() < 0.9 THEN '\x0000'::bytea ELSE fuzz.rbytes(2) END;
	n int := greatest(0, least(dim, 8) + fuzz.rint(-1, 1)::int);
BEGIN
	IF elem_size = 1 THEN
		b := b || fuzz.rfloat4();		-- embedding8: the scale
		RETURN b || fuzz.rbytes(n);
	END IF;
	FOR i IN 1..n LOOP
		b := b || fuzz.rfloat4();
	END LOOP;
	RETURN b;
END $$;
-- one random edit of a binary message
CREATE FUNCTION fuzz.mutate_bytes(b bytea) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
	n int := length(b);
	i int := fuzz.rint(0, n - 1);
BEGIN
	CASE fuzz.rint(1, 5)
		WHEN 1 THEN
			RETURN set_byte(b, i, fuzz.rint(0, 255)::int);
		WHEN 2 THEN
			RETURN substr(b, 1, i);
		WHEN 3 THEN
			RETURN b || fuzz.rbytes(fuzz.rint(1, 4)::int);
		WHEN 4 THEN
			RETURN fuzz.rbytes(2) || substr(b, 3);
		ELSE
			RETURN substr(b, 1, 2) || fuzz.rbytes(2) || substr(b, 5);
	END CASE;
END $$;
-- checks ---------------------------------------------------------------------
CREATE FUNCTION fuzz.known_binary_error(msg text) RETURNS bool
LANGUAGE sql AS $$
	SELECT msg = 'incorrect binary data format'
		OR msg LIKE 'expected unused to be 0, not %'
$$;
-- text input: accepted inputs must print and read back to the same bits
CREATE FUNCTION fuzz.try_text(kind text, s text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	e embedding;
	e8 embedding8;
	st text;
	msg text;
BEGIN
	BEGIN
		e := s::embedding;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		INSERT INTO fuzz.outcome
			SELECT 'text ' || kind, 'rejected', st
			WHERE msg ~ '\membedding\M';
		IF NOT FOUND THEN
			INSERT INTO fuzz.outcome VALUES ('text ' || kind, 'unexpected', st, msg, s);
		END IF;
	END;
	IF e IS NOT NULL THEN
		BEGIN
			IF embedding_send(e::text::embedding) = embedding_send(e) THEN
				INSERT INTO fuzz.outcome VALUES ('text ' || kind, 'accepted');
			ELSE
				INSERT INTO fuzz.outcome VALUES ('text ' || kind, 'round trip differs', NULL, e::text, s);
			END IF;
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO fuzz.outcome VALUES ('text ' || kind, 'round trip error', NULL, SQLERRM, s);
		END;
	END IF;
	BEGIN
		e8 := s::embedding8;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		INSERT INTO fuzz.outcome
			SELECT 'text8 ' || kind, 'rejected', st
			WHERE msg ~ '\membedding8\M';
		IF NOT FOUND THEN
			INSERT INTO fuzz.outcome VALUES ('text8 ' || kind, 'unexpected', st, msg, s);
		END IF;
	END;
	IF e8 IS NOT NULL THEN
		BEGIN
			IF embedding8_send(e8::text::embedding8) = embedding8_send(e8)
				AND dims(e8) = dims(e) THEN
				INSERT INTO fuzz.outcome VALUES ('text8 ' || kind, 'accepted');
			ELSE
				INSERT INTO fuzz.outcome VALUES ('text8 ' || kind, 'round trip differs', NULL, e8::text, s);
			END IF;
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO fuzz.outcome VALUES ('text8 ' || kind, 'round trip error', NULL, SQLERRM, s);
		END;
	END IF;
END $$;
-- binary input: accepted messages must be sent back byte for byte, and
-- their text form must read back too (no infinities from a large scale)
CREATE FUNCTION fuzz.try_binary(kind text, b bytea) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	e embedding;
	st text;
	msg text;
BEGIN
	BEGIN
		e := embedding_from_binary(b);
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		INSERT INTO fuzz.outcome
			SELECT 'binary ' || kind, 'rejected', st
			WHERE msg ~ '\membedding\M' OR fuzz.known_binary_error(msg);
		IF NOT FOUND THEN
			INSERT INTO fuzz.outcome VALUES ('binary ' || kind, 'unexpected', st, msg, b::text);
		END IF;
		RETURN;
	END;
	BEGIN
		IF embedding_send(e) = b AND embedding_send(e::text::embedding) = b THEN
			INSERT INTO fuzz.outcome VALUES ('binary ' || kind, 'accepted');
		ELSE
			INSERT INTO fuzz.outcome VALUES ('binary ' || kind, 'round trip differs', NULL, e::text, b::text);
		END IF;
	EXCEPTION WHEN OTHERS THEN
		INSERT INTO fuzz.outcome VALUES ('binary ' || kind, 'round trip error', NULL, SQLERRM, b::text);
	END;
END $$;
CREATE FUNCTION fuzz.try_binary8(kind text, b bytea) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	e8 embedding8;
	st text;
	msg text;
BEGIN
	BEGIN
		e8 := embedding8_from_binary(b);
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		INSERT INTO fuzz.outcome
			SELECT 'binary8 ' || kind, 'rejected', st
			WHERE msg ~ '\membedding8\M' OR fuzz.known_binary_error(msg);
		IF NOT FOUND THEN
			INSERT INTO fuzz.outcome VALUES ('binary8 ' || kind, 'unexpected', st, msg, b::text);
		END IF;
		RETURN;
	END;
	BEGIN
		IF embedding8_send(e8) = b AND dims(e8::text::embedding8) = dims(e8)
			AND dims(e8::embedding::text::embedding) = dims(e8) THEN
			INSERT INTO fuzz.outcome VALUES ('binary8 ' || kind, 'accepted');
		ELSE
			INSERT INTO fuzz.outcome VALUES ('binary8 ' || kind, 'round trip differs', NULL, e8::text, b::text);
		END IF;
	EXCEPTION WHEN OTHERS THEN
		INSERT INTO fuzz.outcome VALUES ('binary8 ' || kind, 'round trip error', NULL, SQLERRM, b::text);
	END;
END $$;
-- the runs ----------------------------------------------------------------
SELECT setseed(0.20240611);
-- hand-picked edge cases
SELECT count(*) FROM (
	SELECT fuzz.try_text('edge', s) FROM unnest(ARRAY[
		'', ' ', '[]', '[ ]', '[,]', '[1,]', '[,1]', '[1,,2]', '[', ']', '[1', '[1 2]',
		'[[1]]', '[1]]', '[1]x', 'x[1]', '[1] x', chr(9) || chr(10) || '[1]' || chr(11) || chr(12),
		'[+1]', '[.5]', '[5.]', '[.]', '[-.5e1]', '[0x1p-149]', '[0x1.fffffep127]', '[0x1p128]',
		'[nan]', '[inf]', '[-inf]', '[Infinity]', '[1e39]', '[-1e39]', '[1e-50]', '[1e-45]',
		'[3.4028235e38]', '[3.4028236e38]', '[-0]', '[1e400]', '[1e-400]', '[1' || repeat('0', 1000) || ']',
		'[0.' || repeat('0', 1000) || '1]', '[' || repeat('1,', 15999) || '1]',
		'[' || repeat('1,', 16000) || '1]', '[' || repeat('1,', 20000),
		'[' || repeat(' ', 10000) || '1' || repeat(' ', 10000) || ']'
	]) s
) t;
-- random strings
SELECT count(*) FROM (
	SELECT fuzz.try_text('junk', fuzz.junk(fuzz.rint(0, 24)::int)) FROM generate_series(1, 1200)
) t;
-- random vector literals, mostly valid
SELECT count(*) FROM (
	SELECT fuzz.try_text('vector', fuzz.rvec(fuzz.rint(1, 12)::int)) FROM generate_series(1, 800)
) t;
-- vector literals after one to three random edits
SELECT count(*) FROM (
	SELECT fuzz.try_text('mutated', fuzz.mutate(fuzz.mutate(fuzz.mutate(fuzz.rvec(fuzz.rint(1, 5)::int)))))
	FROM generate_series(1, 1200)
	UNION ALL
	SELECT fuzz.try_text('mutated', fuzz.mutate(fuzz.rvec(fuzz.rint(1, 5)::int)))
	FROM generate_series(1, 600)
	UNION ALL
	SELECT fuzz.try_text('mutated', fuzz.mutate(fuzz.valid_vec(fuzz.rint(1, 5)::int)))
	FROM generate_series(1, 600)
) t;
-- random bytes, random headers with random elements, and edited valid messages
SELECT count(*) FROM (
	SELECT fuzz.try_binary('random', fuzz.rbytes(fuzz.rint(0, 24)::int)) FROM generate_series(1, 1000)
	UNION ALL
	SELECT fuzz.try_binary('header', fuzz.rbinary(4)) FROM generate_series(1, 1000)
	UNION ALL
	SELECT fuzz.try_binary('mutated', fuzz.mutate_bytes(embedding_send(
		fuzz.valid_vec(fuzz.rint(1, 6)::int)::embedding)))
	FROM generate_series(1, 2000)
) t;
SELECT count(*) FROM (
	SELECT fuzz.try_binary8('random', fuzz.rbytes(fuzz.rint(0, 16)::int)) FROM generate_series(1, 800)
	UNION ALL
	SELECT fuzz.try_binary8('header', fuzz.rbinary(1)) FROM generate_series(1, 1000)
	UNION ALL
	SELECT fuzz.try_binary8('mutated', fuzz.mutate_bytes(embedding8_send(
		fuzz.valid_vec(fuzz.rint(1, 6)::int)::embedding8)))
	FROM generate_series(1, 1000)
) t;
-- results: unexpected must be 0 everywhere
SELECT kind,
	count(*) FILTER (WHERE outcome = 'accepted') AS accepted,
	count(*) FILTER (WHERE outcome = 'rejected') AS rejected,
	count(*) FILTER (WHERE outcome NOT IN ('accepted', 'rejected')) AS unexpected
FROM fuzz.outcome GROUP BY kind ORDER BY kind;
-- rejections by SQLSTATE
SELECT split_part(kind, ' ', 1) AS input, sqlstate, count(*)
FROM fuzz.outcome WHERE outcome = 'rejected' GROUP BY 1, 2 ORDER BY 1, 2;
-- anything unexpected, in full (no rows)
SELECT kind, outcome, sqlstate, message, input FROM fuzz.outcome
WHERE outcome NOT IN ('accepted', 'rejected') ORDER BY 1, 2, 5;
DROP SCHEMA fuzz CASCADE;
