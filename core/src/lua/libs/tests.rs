//! Tests of `cjson`, `cmsgpack` and `bit` against results recorded from redis-server
//! 7.0.15: each script of [`RECORDED`] ran there inside [`WRAPPER`] (`EVAL <script> 0`),
//! which turns every result or error into one comparable line.

use mlua::{Lua, Value};

fn lua() -> Lua {
    let lua = Lua::new();
    super::load(&lua).expect("load");
    lua
}

/// Runs `code` under the name Redis gives scripts, so error positions read the same.
fn run(lua: &Lua, code: &str) -> mlua::Result<Value> {
    lua.load(code).set_name("@user_script").eval::<Value>()
}

/// Runs `code` and returns its first result as a string.
fn eval(lua: &Lua, code: &str) -> String {
    match run(lua, code) {
        Ok(Value::String(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
        Ok(other) => format!("{other:?}"),
        Err(e) => panic!("{code}: {e}"),
    }
}

/// `pcall`s the script and prints what it returned, tables key by key in sorted order.
/// One line, so that errors report line 1 as in the recorded runs.
const WRAPPER: &str = r#"local function dump(v, d) d = d or 0 local t = type(v) if t == 'table' then if d > 8 then return '{...}' end local keys = {} for k in pairs(v) do keys[#keys + 1] = k end table.sort(keys, function(a, b) local ta, tb = type(a), type(b) if ta ~= tb then return ta < tb end if ta == 'number' or ta == 'string' then return a < b end return tostring(a) < tostring(b) end) local parts = {} for _, k in ipairs(keys) do parts[#parts + 1] = dump(k, d + 1) .. '=' .. dump(v[k], d + 1) end return '{' .. table.concat(parts, ',') .. '}' elseif t == 'string' then return '"' .. string.gsub(v, '[^%w%p ]', function(c) return '\\' .. string.byte(c) end) .. '"' elseif t == 'number' then return string.format('%.17g', v) elseif t == 'userdata' or t == 'boolean' or t == 'nil' then return tostring(v) else return t end end local function show(...) local r = {} for i = 1, select('#', ...) do r[i] = dump((select(i, ...))) end return table.concat(r, ' ') end return show(pcall(function() CASE end))"#;

#[test]
fn recorded_results_match_redis() {
    // One state for all, in order, as the recordings were made on one server: scripts that
    // change the cjson configuration set it back.
    let lua = lua();
    let mut failures = Vec::new();
    for (script, expected) in RECORDED {
        let got = eval(&lua, &WRAPPER.replace("CASE", script));
        if got != *expected {
            failures.push(format!("{script}\n   redis: {expected}\n    ours: {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        RECORDED.len(),
        failures.join("\n")
    );
}

#[test]
fn load_installs_the_three_globals() {
    let lua = lua();
    assert_eq!(
        eval(&lua, "return type(cjson) .. type(cmsgpack) .. type(bit)"),
        "tabletabletable"
    );
}

#[test]
fn null_is_the_null_light_userdata_in_every_instance() {
    let lua = lua();
    assert_eq!(
        eval(
            &lua,
            "return tostring(cjson.null == cjson.new().null and cjson.decode('null') == cjson.null)"
        ),
        "true"
    );
    let null: Value = run(&lua, "return cjson.null").expect("null");
    assert!(matches!(null, Value::LightUserData(p) if p.0.is_null()));
}

#[test]
fn errors_reach_the_host_as_positioned_strings() {
    let lua = lua();
    match run(&lua, "return cjson.decode('x')") {
        Err(mlua::Error::RuntimeError(msg)) => assert!(
            msg.starts_with("user_script:1: Expected value but found invalid token at character 1"),
            "{msg}"
        ),
        other => panic!("{other:?}"),
    }
    // Inside the script, a string the script can match.
    assert_eq!(
        eval(
            &lua,
            "local ok, e = pcall(bit.band, {}) return type(e) .. ' ' .. e"
        ),
        "string bad argument #1 to '?' (number expected, got table)"
    );
}

#[test]
fn each_instance_has_its_own_configuration_and_it_persists() {
    let lua = lua();
    eval(&lua, "cjson.encode_number_precision(4) return ''");
    assert_eq!(eval(&lua, "return cjson.encode(math.pi)"), "3.142");
    assert_eq!(
        eval(&lua, "return cjson.new().encode(math.pi)"),
        "3.1415926535898"
    );
}

#[test]
fn many_results_through_pcall() {
    // Lua's API checks (in debug builds of lua-src) abort on this; the workspace turns them
    // off, as Redis's build has them.
    let lua = lua();
    assert_eq!(
        eval(
            &lua,
            "return tostring(select('#', pcall(cmsgpack.unpack, string.rep('\\1', 5000))))"
        ),
        "5001"
    );
}

/// Throughput, for the record (`cargo test --release -- --ignored bench --nocapture`).
#[test]
#[ignore]
fn bench() {
    let lua = lua();
    let setup = "DOC = {} for i = 1, 100000 do DOC[i] = {id = i, name = 'item' .. i, tags = {'a', 'b'}, score = i / 3} end \
                 JSON = cjson.encode(DOC) PACK = cmsgpack.pack(DOC)";
    run(&lua, setup).expect("setup");
    for (what, code) in [
        ("cjson.encode", "return cjson.encode(DOC)"),
        ("cjson.decode", "return cjson.decode(JSON)"),
        ("cmsgpack.pack", "return cmsgpack.pack(DOC)"),
        ("cmsgpack.unpack", "return cmsgpack.unpack(PACK)"),
        (
            "bit.band x1e6",
            "local b = bit.band for i = 1, 1000000 do b(i, 255) end",
        ),
    ] {
        let start = std::time::Instant::now();
        run(&lua, code).expect(what);
        eprintln!("{what}: {:?}", start.elapsed());
    }
}

#[test]
fn running_out_of_memory_is_an_error_not_a_crash() {
    let lua = lua();
    run(
        &lua,
        "BIG_JSON = '[' .. string.rep('{\"k\":\"vvvvvvvvvv\"},', 20000) .. '1]' \
         BIG_PACK = cmsgpack.pack(cjson.decode(BIG_JSON))",
    )
    .expect("setup");
    let used = lua.used_memory();
    lua.set_memory_limit(used + 256 * 1024).expect("limit");
    for code in [
        "return cjson.decode(BIG_JSON)",
        "return cmsgpack.unpack(BIG_PACK)",
        "local t = {} for i = 1, 100000 do t[i] = 'x' .. i end return cjson.encode(t)",
    ] {
        assert!(run(&lua, code).is_err(), "{code}");
    }
    lua.set_memory_limit(0).expect("no limit");
    assert_eq!(
        eval(&lua, "return cjson.encode(cjson.decode('[1]'))"),
        "[1]"
    );
}

/// A small deterministic generator, so that failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn malformed_input_gives_lua_errors_never_panics() {
    let lua = lua();
    let check = lua
        .load(
            "local s = ... \
             local a = {pcall(cjson.decode, s)} \
             local b = {pcall(cmsgpack.unpack, s)} \
             local c = {pcall(cmsgpack.unpack_one, s, 1)} \
             local d = {pcall(cmsgpack.unpack_limit, s, 3)} \
             for _, r in ipairs({a, b, c, d}) do \
               if not r[1] and type(r[2]) ~= 'string' then error('not a string error') end \
             end \
             return true",
        )
        .into_function()
        .expect("compile");
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let seeds: [&[u8]; 6] = [
        br#"{"a":[1,2.5,-3e2,"x\u00e9\ud83d\ude00",true,false,null,{"b":{}}]}"#,
        b"[[[[[[[[[[1]]]]]]]]]]",
        b"\x93\x01\xa3abc\x82\xa1k\x91\xc3\xcb\x40\x09\x21\xfb\x54\x44\x2d\x18\xc0",
        b"\xdd\xff\xff\xff\xff\x01",
        b"\xdf\x00\x00\x00\x02\xc0\x01\x02",
        b"\"\\u",
    ];
    for round in 0..3000 {
        let mut input: Vec<u8> = seeds[round % seeds.len()].to_vec();
        for _ in 0..(rng.next() % 4 + 1) {
            let r = rng.next();
            let len = input.len().max(1);
            match r % 4 {
                0 if !input.is_empty() => {
                    input.truncate((r >> 8) as usize % len);
                }
                1 if !input.is_empty() => {
                    let at = (r >> 8) as usize % input.len();
                    input[at] = (r >> 40) as u8;
                }
                2 => input.insert(
                    (r >> 8) as usize % len.min(input.len() + 1),
                    (r >> 40) as u8,
                ),
                _ => input.extend((0..r % 8).map(|i| (r >> (i * 8)) as u8)),
            }
        }
        let s = lua.create_string(&input).expect("string");
        let ok: bool = check.call(s).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert!(ok);
    }
}

/// (script, result) pairs recorded from redis-server 7.0.15.
const RECORDED: &[(&str, &str)] = &[
    (
        r#"return cjson.encode({1,2,{a=1}})"#,
        r#"true "[1,2,{"a":1}]""#,
    ),
    (r#"return cjson.encode({})"#, r#"true "{}""#),
    (r#"return cjson.encode({a={}})"#, r#"true "{"a":{}}""#),
    (
        r#"return cjson.encode("a/b\"c\\d\1\8\9\10\12\13\31\127\200\255")"#,
        r#"true ""a\/b\"c\\d\u0001\b\t\n\f\r\u001f\u007f\200\255"""#,
    ),
    (
        r#"return cjson.encode(3.14159265358979)"#,
        r#"true "3.1415926535898""#,
    ),
    (r#"return cjson.encode(0.1)"#, r#"true "0.1""#),
    (r#"return cjson.encode(1e300)"#, r#"true "1e+300""#),
    (r#"return cjson.encode(-0.0)"#, r#"true "-0""#),
    (r#"return cjson.encode(1/3)"#, r#"true "0.33333333333333""#),
    (r#"return cjson.encode(100000000000000)"#, r#"true "1e+14""#),
    (r#"return cjson.encode(1e15)"#, r#"true "1e+15""#),
    (
        r#"return cjson.encode(123456789012345678)"#,
        r#"true "1.2345678901235e+17""#,
    ),
    (
        r#"return cjson.encode(2^53)"#,
        r#"true "9.007199254741e+15""#,
    ),
    (r#"return cjson.encode(0.00001)"#, r#"true "1e-05""#),
    (r#"return cjson.encode(0.0001)"#, r#"true "0.0001""#),
    (r#"return cjson.encode(1e-7)"#, r#"true "1e-07""#),
    (r#"return cjson.encode(-123.456)"#, r#"true "-123.456""#),
    (
        r#"return cjson.encode(5e-324)"#,
        r#"true "4.9406564584125e-324""#,
    ),
    (
        r#"return cjson.encode(1.7976931348623157e308)"#,
        r#"true "1.7976931348623e+308""#,
    ),
    (
        r#"return cjson.encode(12345678901234)"#,
        r#"true "12345678901234""#,
    ),
    (
        r#"return cjson.encode(123456789012345)"#,
        r#"true "1.2345678901234e+14""#,
    ),
    (r#"return cjson.encode(0.5)"#, r#"true "0.5""#),
    (r#"return cjson.encode(2.5e-5)"#, r#"true "2.5e-05""#),
    (r#"return cjson.encode(true)"#, r#"true "true""#),
    (r#"return cjson.encode(false)"#, r#"true "false""#),
    (r#"return cjson.encode(nil)"#, r#"true "null""#),
    (r#"return cjson.encode(cjson.null)"#, r#"true "null""#),
    (
        r#"return cjson.encode({cjson.null, 1})"#,
        r#"true "[null,1]""#,
    ),
    (
        r#"return cjson.encode({[1]=1,[2]=2,[4]=4})"#,
        r#"true "[1,2,null,4]""#,
    ),
    (
        r#"return cjson.encode({[1]=1,[20]=2})"#,
        r#"false "user_script:1: Cannot serialise table: excessively sparse array""#,
    ),
    (
        r#"return cjson.encode({[1]=1,[11]=2})"#,
        r#"false "user_script:1: Cannot serialise table: excessively sparse array""#,
    ),
    (
        r#"return cjson.encode({[1]=1,[10]=2})"#,
        r#"true "[1,null,null,null,null,null,null,null,null,2]""#,
    ),
    (r#"return cjson.encode({[3]=1})"#, r#"true "[null,null,1]""#),
    (r#"return cjson.encode({[1.5]=1})"#, r#"true "{"1.5":1}""#),
    (r#"return cjson.encode({[-1]=1})"#, r#"true "{"-1":1}""#),
    (r#"return cjson.encode({[0]=1})"#, r#"true "{"0":1}""#),
    (
        r#"return cjson.encode({a=1,b=2,c=3,d=4,e=5})"#,
        r#"true "{"a":1,"c":3,"b":2,"e":5,"d":4}""#,
    ),
    (
        r#"return cjson.encode({[1]=1,a=2})"#,
        r#"true "{"1":1,"a":2}""#,
    ),
    (r#"return cjson.encode({["1"]=1})"#, r#"true "{"1":1}""#),
    (
        r#"return cjson.encode({[2.0]=1, [1]=3})"#,
        r#"true "[3,1]""#,
    ),
    (r#"return cjson.encode({1,nil,3})"#, r#"true "[1,null,3]""#),
    (
        r#"return cjson.encode({n=cjson.null})"#,
        r#"true "{"n":null}""#,
    ),
    (
        r#"return cjson.encode({[2^40]=1})"#,
        r#"true "{"1099511627776":1}""#,
    ),
    (
        r#"return cjson.encode({[1/0]=1})"#,
        r#"false "user_script:1: Cannot serialise number: must not be NaN or Inf""#,
    ),
    (
        r#"return cjson.encode({[1e100]=1})"#,
        r#"true "{"1e+100":1}""#,
    ),
    (
        r#"return cjson.encode({["a b"]={["c\"d"]={1,{true,false}}}})"#,
        r#"true "{"a b":{"c\"d":[1,[true,false]]}}""#,
    ),
    (
        r#"return cjson.encode({name="x", list={1,2,3}, nested={deep={deeper={"v"}}}})"#,
        r#"true "{"nested":{"deep":{"deeper":["v"]}},"name":"x","list":[1,2,3]}""#,
    ),
    (
        r#"return cjson.encode(function() end)"#,
        r#"false "user_script:1: Cannot serialise function: type not supported""#,
    ),
    (
        r#"return cjson.encode({f=function() end})"#,
        r#"false "user_script:1: Cannot serialise function: type not supported""#,
    ),
    (
        r#"return cjson.encode({1, coroutine.create(function() end)})"#,
        r#"false "user_script:1: Cannot serialise thread: type not supported""#,
    ),
    (
        r#"return cjson.encode(1/0)"#,
        r#"false "user_script:1: Cannot serialise number: must not be NaN or Inf""#,
    ),
    (
        r#"return cjson.encode(-1/0)"#,
        r#"false "user_script:1: Cannot serialise number: must not be NaN or Inf""#,
    ),
    (
        r#"return cjson.encode(0/0)"#,
        r#"false "user_script:1: Cannot serialise number: must not be NaN or Inf""#,
    ),
    (
        r#"return cjson.encode({[true]=1})"#,
        r#"false "user_script:1: Cannot serialise boolean: table key must be a number or string""#,
    ),
    (
        r#"return cjson.encode({[{}]=1})"#,
        r#"false "user_script:1: Cannot serialise table: table key must be a number or string""#,
    ),
    (
        r#"return cjson.encode({[1]=1,[100]=1})"#,
        r#"false "user_script:1: Cannot serialise table: excessively sparse array""#,
    ),
    (
        r#"return cjson.encode()"#,
        r#"false "user_script:1: bad argument #1 to 'encode' (expected 1 argument)""#,
    ),
    (
        r#"return cjson.encode(1, 2)"#,
        r#"false "user_script:1: bad argument #1 to 'encode' (expected 1 argument)""#,
    ),
    (
        r#"return cjson.encode("\0a\0")"#,
        r#"true ""\u0000a\u0000"""#,
    ),
    (
        r#"return cjson.encode(string.rep("x", 40))"#,
        r#"true ""xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"""#,
    ),
    (
        r#"return cjson.encode({{{{{{{{{{}}}}}}}}}})"#,
        r#"true "[[[[[[[[[{}]]]]]]]]]""#,
    ),
    (
        r#"return cjson.encode({[1]=1,[2]=2,[3]=3,[4]=4,[5]=5,[6]=6,[7]=7,[8]=8,[9]=9,[10]=10,[30]=30})"#,
        r#"false "user_script:1: Cannot serialise table: excessively sparse array""#,
    ),
    (
        r#"return cjson.encode({[5]=5,[6]=6,[7]=7,[8]=8,[9]=9,[10]=10,[11]=11,[12]=12})"#,
        r#"true "[null,null,null,null,5,6,7,8,9,10,11,12]""#,
    ),
    (
        r#"return cjson.encode({[11]=11})"#,
        r#"false "user_script:1: Cannot serialise table: excessively sparse array""#,
    ),
    (
        r#"return cjson.encode({[10]=10})"#,
        r#"true "[null,null,null,null,null,null,null,null,null,10]""#,
    ),
    (
        r#"local t = {} t[1] = t return cjson.encode(t)"#,
        r#"false "user_script:1: Cannot serialise, excessive nesting (1001)""#,
    ),
    (
        r#"local t = {} local c = t for i = 1, 999 do c[1] = {} c = c[1] end return cjson.encode(t)"#,
        r#"true "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]""#,
    ),
    (
        r#"local t = {} local c = t for i = 1, 1000 do c[1] = {} c = c[1] end return cjson.encode(t)"#,
        r#"false "user_script:1: Cannot serialise, excessive nesting (1001)""#,
    ),
    (
        r#"local t = {} local c = t for i = 1, 1000 do c.a = {} c = c.a end return cjson.encode(t)"#,
        r#"false "user_script:1: Cannot serialise, excessive nesting (1001)""#,
    ),
    (
        r#"local t = {} local c = t for i = 1, 999 do c.a = {} c = c.a end return #cjson.encode(t)"#,
        r#"true 5996"#,
    ),
    (
        r#"return cjson.decode('[1,2,{"a":1}]')"#,
        r#"true {1=1,2=2,3={"a"=1}}"#,
    ),
    (
        r#"return cjson.decode('{"a":{"b":[1,2,3]},"c":null,"d":true,"e":false,"f":"x"}')"#,
        r#"true {"a"={"b"={1=1,2=2,3=3}},"c"=userdata: (nil),"d"=true,"e"=false,"f"="x"}"#,
    ),
    (
        r#"return cjson.decode('')"#,
        r#"false "user_script:1: Expected value but found T_END at character 1""#,
    ),
    (
        r#"return cjson.decode(' ')"#,
        r#"false "user_script:1: Expected value but found T_END at character 2""#,
    ),
    (
        r#"return cjson.decode('x')"#,
        r#"false "user_script:1: Expected value but found invalid token at character 1""#,
    ),
    (
        r#"return cjson.decode('[1,2')"#,
        r#"false "user_script:1: Expected comma or array end but found T_END at character 5""#,
    ),
    (
        r#"return cjson.decode('[1,2,]')"#,
        r#"false "user_script:1: Expected value but found T_ARR_END at character 6""#,
    ),
    (
        r#"return cjson.decode('{"a":1,}')"#,
        r#"false "user_script:1: Expected object key string but found T_OBJ_END at character 8""#,
    ),
    (
        r#"return cjson.decode('{"a" 1}')"#,
        r#"false "user_script:1: Expected colon but found T_NUMBER at character 6""#,
    ),
    (
        r#"return cjson.decode('{1:2}')"#,
        r#"false "user_script:1: Expected object key string but found T_NUMBER at character 2""#,
    ),
    (
        r#"return cjson.decode('[1 2]')"#,
        r#"false "user_script:1: Expected comma or array end but found T_NUMBER at character 4""#,
    ),
    (
        r#"return cjson.decode('"abc')"#,
        r#"false "user_script:1: Expected value but found unexpected end of string at character 5""#,
    ),
    (
        r#"return cjson.decode('"a\\qb"')"#,
        r#"false "user_script:1: Expected value but found invalid escape code at character 3""#,
    ),
    (
        r#"return cjson.decode('"\\u00zz"')"#,
        r#"false "user_script:1: Expected value but found invalid unicode escape code at character 2""#,
    ),
    (
        r#"return cjson.decode('"\\ud800"')"#,
        r#"false "user_script:1: Expected value but found invalid unicode escape code at character 2""#,
    ),
    (
        r#"return cjson.decode('"\\ud800\\u0041"')"#,
        r#"false "user_script:1: Expected value but found invalid unicode escape code at character 2""#,
    ),
    (
        r#"return cjson.decode('"\\udc00"')"#,
        r#"false "user_script:1: Expected value but found invalid unicode escape code at character 2""#,
    ),
    (
        r#"return cjson.decode('"\\ud83d\\ude00"')"#,
        r#"true "\240\159\152\128""#,
    ),
    (
        r#"return cjson.decode('"\\u00e9\\u0000x\\u20AC\\u0041"')"#,
        r#"true "\195\169\0x\226\130\172A""#,
    ),
    (
        r#"return cjson.decode('"\\b\\f\\n\\r\\t\\/\\\\\\""')"#,
        r#"true "\8\12\10\13\9/\"""#,
    ),
    (
        r#"return cjson.decode('"\\')"#,
        r#"false "user_script:1: Expected value but found invalid escape code at character 2""#,
    ),
    (
        r#"return cjson.decode('"\\u12')"#,
        r#"false "user_script:1: Expected value but found invalid unicode escape code at character 2""#,
    ),
    (
        r#"return cjson.decode('nul')"#,
        r#"false "user_script:1: Expected value but found invalid token at character 1""#,
    ),
    (
        r#"return cjson.decode('tru')"#,
        r#"false "user_script:1: Expected value but found invalid token at character 1""#,
    ),
    (
        r#"return cjson.decode('falsex')"#,
        r#"false "user_script:1: Expected the end but found invalid token at character 6""#,
    ),
    (r#"return cjson.decode('01')"#, r#"true 1"#),
    (
        r#"return cjson.decode('-')"#,
        r#"false "user_script:1: Expected value but found invalid number at character 1""#,
    ),
    (r#"return cjson.decode('0x10')"#, r#"true 16"#),
    (r#"return cjson.decode('0X1F')"#, r#"true 31"#),
    (r#"return cjson.decode('0x1.8p1')"#, r#"true 3"#),
    (r#"return cjson.decode('+1')"#, r#"true 1"#),
    (
        r#"return cjson.decode('+x')"#,
        r#"false "user_script:1: Expected value but found invalid number at character 1""#,
    ),
    (r#"return cjson.decode('1.')"#, r#"true 1"#),
    (
        r#"return cjson.decode('.5')"#,
        r#"false "user_script:1: Expected value but found invalid token at character 1""#,
    ),
    (
        r#"return cjson.decode('1e')"#,
        r#"false "user_script:1: Expected the end but found invalid token at character 2""#,
    ),
    (
        r#"return cjson.decode('1e+')"#,
        r#"false "user_script:1: Expected the end but found invalid token at character 2""#,
    ),
    (
        r#"return cjson.decode('1e5x')"#,
        r#"false "user_script:1: Expected the end but found invalid token at character 4""#,
    ),
    (
        r#"return cjson.decode('[1]]')"#,
        r#"false "user_script:1: Expected the end but found T_ARR_END at character 4""#,
    ),
    (
        r#"return cjson.decode('{} x')"#,
        r#"false "user_script:1: Expected the end but found invalid token at character 4""#,
    ),
    (r#"return cjson.decode('inf')"#, r#"true inf"#),
    (r#"return cjson.decode('nan')"#, r#"true nan"#),
    (r#"return cjson.decode('-inf')"#, r#"true -inf"#),
    (r#"return cjson.decode('Infinity')"#, r#"true inf"#),
    (r#"return cjson.decode('-Infinity')"#, r#"true -inf"#),
    (r#"return cjson.decode('NaN')"#, r#"true nan"#),
    (r#"return cjson.decode('nan(123)')"#, r#"true nan"#),
    (
        r#"return cjson.decode('[')"#,
        r#"false "user_script:1: Expected value but found T_END at character 2""#,
    ),
    (
        r#"return cjson.decode('{')"#,
        r#"false "user_script:1: Expected object key string but found T_END at character 2""#,
    ),
    (
        r#"return cjson.decode('{"a"')"#,
        r#"false "user_script:1: Expected colon but found T_END at character 5""#,
    ),
    (
        r#"return cjson.decode('{"a":')"#,
        r#"false "user_script:1: Expected value but found T_END at character 6""#,
    ),
    (
        r#"return cjson.decode(']')"#,
        r#"false "user_script:1: Expected value but found T_ARR_END at character 1""#,
    ),
    (
        r#"return cjson.decode('}')"#,
        r#"false "user_script:1: Expected value but found T_OBJ_END at character 1""#,
    ),
    (
        r#"return cjson.decode(':')"#,
        r#"false "user_script:1: Expected value but found T_COLON at character 1""#,
    ),
    (
        r#"return cjson.decode(',')"#,
        r#"false "user_script:1: Expected value but found T_COMMA at character 1""#,
    ),
    (r#"return cjson.decode('"\1\n"')"#, r#"true "\1\10""#),
    (r#"return cjson.decode('-0')"#, r#"true -0"#),
    (r#"return cjson.decode('1E2')"#, r#"true 100"#),
    (r#"return cjson.decode('1e400')"#, r#"true inf"#),
    (r#"return cjson.decode('-1e400')"#, r#"true -inf"#),
    (r#"return cjson.decode('"\\/"')"#, r#"true "/""#),
    (r#"return cjson.decode('0.1e1')"#, r#"true 1"#),
    (r#"return cjson.decode('-01')"#, r#"true -1"#),
    (r#"return cjson.decode('00')"#, r#"true 0"#),
    (r#"return cjson.decode('1.5e+3')"#, r#"true 1500"#),
    (
        r#"return cjson.decode('[-]')"#,
        r#"false "user_script:1: Expected value but found invalid number at character 2""#,
    ),
    (
        r#"return cjson.decode('123456789012345678901')"#,
        r#"true 1.2345678901234568e+20"#,
    ),
    (
        r#"return cjson.decode('9007199254740993')"#,
        r#"true 9007199254740992"#,
    ),
    (
        r#"return cjson.decode('0.1')"#,
        r#"true 0.10000000000000001"#,
    ),
    (
        r#"return cjson.decode('2.5e-324')"#,
        r#"true 4.9406564584124654e-324"#,
    ),
    (
        r#"return cjson.decode('4.9e-324')"#,
        r#"true 4.9406564584124654e-324"#,
    ),
    (r#"return cjson.decode('1e308')"#, r#"true 1e+308"#),
    (
        r#"return cjson.decode('0x')"#,
        r#"false "user_script:1: Expected the end but found invalid token at character 2""#,
    ),
    (r#"return cjson.decode('-0x1')"#, r#"true -1"#),
    (
        r#"return cjson.decode('i')"#,
        r#"false "user_script:1: Expected value but found invalid token at character 1""#,
    ),
    (
        r#"return cjson.decode('n')"#,
        r#"false "user_script:1: Expected value but found invalid token at character 1""#,
    ),
    (
        r#"return cjson.decode('N')"#,
        r#"false "user_script:1: Expected value but found invalid token at character 1""#,
    ),
    (
        r#"return cjson.decode('I')"#,
        r#"false "user_script:1: Expected value but found invalid token at character 1""#,
    ),
    (
        r#"return cjson.decode('"x"y')"#,
        r#"false "user_script:1: Expected the end but found invalid token at character 4""#,
    ),
    (
        r#"return cjson.decode('1 2')"#,
        r#"false "user_script:1: Expected the end but found T_NUMBER at character 3""#,
    ),
    (
        r#"return cjson.decode('\t[ 1 ,\r\n2 ] ')"#,
        r#"true {1=1,2=2}"#,
    ),
    (
        r#"return cjson.decode('[1,[2,[3]]]')"#,
        r#"true {1=1,2={1=2,2={1=3}}}"#,
    ),
    (
        r#"return cjson.decode('{"a":null}').a == cjson.null"#,
        r#"true true"#,
    ),
    (
        r#"return cjson.decode('null') == cjson.null"#,
        r#"true true"#,
    ),
    (
        r#"return cjson.decode('[null]')[1] == cjson.null"#,
        r#"true true"#,
    ),
    (r#"return cjson.decode('{"1":2}')"#, r#"true {"1"=2}"#),
    (r#"return cjson.decode('{"a":1,"a":2}')"#, r#"true {"a"=2}"#),
    (r#"return cjson.decode('[]')"#, r#"true {}"#),
    (r#"return cjson.decode('{}')"#, r#"true {}"#),
    (r#"return cjson.decode('[[],{}]')"#, r#"true {1={},2={}}"#),
    (
        r#"return cjson.decode('[[[]]')"#,
        r#"false "user_script:1: Expected comma or array end but found T_END at character 6""#,
    ),
    (
        r#"return cjson.decode('{"a":[}')"#,
        r#"false "user_script:1: Expected value but found T_OBJ_END at character 7""#,
    ),
    (
        r#"return cjson.decode('\v1')"#,
        r#"false "user_script:1: Expected value but found invalid token at character 1""#,
    ),
    (
        r#"return cjson.decode('1\0')"#,
        r#"false "user_script:1: JSON parser does not support UTF-16 or UTF-32""#,
    ),
    (r#"return cjson.decode('[1]\0x')"#, r#"true {1=1}"#),
    (
        r#"return cjson.decode('"a\0b"')"#,
        r#"false "user_script:1: Expected value but found unexpected end of string at character 3""#,
    ),
    (
        r#"return cjson.decode('\0\0')"#,
        r#"false "user_script:1: JSON parser does not support UTF-16 or UTF-32""#,
    ),
    (r#"return cjson.decode(123)"#, r#"true 123"#),
    (r#"return cjson.decode(1.5)"#, r#"true 1.5"#),
    (
        r#"return cjson.decode({})"#,
        r#"false "user_script:1: bad argument #1 to 'decode' (string expected, got table)""#,
    ),
    (
        r#"return cjson.decode()"#,
        r#"false "user_script:1: bad argument #1 to 'decode' (expected 1 argument)""#,
    ),
    (
        r#"return cjson.decode(nil)"#,
        r#"false "user_script:1: bad argument #1 to 'decode' (string expected, got nil)""#,
    ),
    (
        r#"return cjson.decode('1', 2)"#,
        r#"false "user_script:1: bad argument #1 to 'decode' (expected 1 argument)""#,
    ),
    (r#"return cjson.decode('true')"#, r#"true true"#),
    (r#"return cjson.decode('false')"#, r#"true false"#),
    (r#"return cjson.decode('"\255\254"')"#, r#"true "\255\254""#),
    (
        r#"return cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000))[1] ~= nil"#,
        r#"true true"#,
    ),
    (
        r#"return cjson.decode(string.rep('[', 1001) .. string.rep(']', 1001))"#,
        r#"false "user_script:1: Found too many nested data structures (1001) at character 1001""#,
    ),
    (
        r#"return cjson.decode(string.rep('{"a":', 1001) .. '1' .. string.rep('}', 1001))"#,
        r#"false "user_script:1: Found too many nested data structures (1001) at character 5001""#,
    ),
    (
        r#"return cjson.decode('[' .. string.rep('1,', 3) .. ']')"#,
        r#"false "user_script:1: Expected value but found T_ARR_END at character 8""#,
    ),
    (
        r#"return cjson.decode('[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]')"#,
        r#"true {1=1,2=2,3=3,4=4,5=5,6=6,7=7,8=8,9=9,10=10,11=11,12=12,13=13,14=14,15=15,16=16,17=17,18=18,19=19,20=20}"#,
    ),
    (
        r#"return cjson.encode(cjson.decode('{"a":[1,2,{"b":null}],"c":"\\u00e9"}'))"#,
        r#"true "{"a":[1,2,{"b":null}],"c":"\195\169"}""#,
    ),
    (
        r#"return cjson.encode(cjson.decode('[1.5,-2,1e10,"s",true,null]'))"#,
        r#"true "[1.5,-2,10000000000,"s",true,null]""#,
    ),
    (
        r#"return cjson.encode_sparse_array()"#,
        r#"true false 2 10"#,
    ),
    (
        r#"return cjson.encode_sparse_array(true)"#,
        r#"true true 2 10"#,
    ),
    (
        r#"return cjson.encode_sparse_array(false, 2, 10)"#,
        r#"true false 2 10"#,
    ),
    (
        r#"return cjson.encode_sparse_array("on")"#,
        r#"true true 2 10"#,
    ),
    (
        r#"return cjson.encode_sparse_array("off")"#,
        r#"true false 2 10"#,
    ),
    (
        r#"return cjson.encode_sparse_array(1)"#,
        r#"false "user_script:1: bad argument #1 to 'encode_sparse_array' (invalid option '1')""#,
    ),
    (
        r#"return cjson.encode_sparse_array({})"#,
        r#"false "user_script:1: bad argument #1 to 'encode_sparse_array' (string expected, got table)""#,
    ),
    (
        r#"return cjson.encode_sparse_array(false,-1)"#,
        r#"false "user_script:1: bad argument #1 to 'encode_sparse_array' (expected integer between 0 and 2147483647)""#,
    ),
    (
        r#"return cjson.encode_sparse_array(false,2,-1)"#,
        r#"false "user_script:1: bad argument #1 to 'encode_sparse_array' (expected integer between 0 and 2147483647)""#,
    ),
    (
        r#"return cjson.encode_sparse_array(false,"x")"#,
        r#"false "user_script:1: bad argument #2 to 'encode_sparse_array' (number expected, got string)""#,
    ),
    (
        r#"return cjson.encode_sparse_array(false,2,10,1)"#,
        r#"false "user_script:1: bad argument #4 to 'encode_sparse_array' (found too many arguments)""#,
    ),
    (
        r#"return cjson.encode_sparse_array(nil, 3)"#,
        r#"true false 3 10"#,
    ),
    (
        r#"return cjson.encode_sparse_array(nil, 2)"#,
        r#"true false 2 10"#,
    ),
    (
        r#"return cjson.encode_max_depth("x")"#,
        r#"false "user_script:1: bad argument #1 to 'encode_max_depth' (number expected, got string)""#,
    ),
    (
        r#"return cjson.encode_max_depth(0)"#,
        r#"false "user_script:1: bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)""#,
    ),
    (r#"return cjson.encode_max_depth(1000.7)"#, r#"true 1000"#),
    (r#"return cjson.encode_max_depth("1000")"#, r#"true 1000"#),
    (
        r#"return cjson.encode_max_depth(1, 2)"#,
        r#"false "user_script:1: bad argument #2 to 'encode_max_depth' (found too many arguments)""#,
    ),
    (
        r#"return cjson.encode_max_depth(2^32 + 1000)"#,
        r#"true 1000"#,
    ),
    (r#"return cjson.encode_max_depth()"#, r#"true 1000"#),
    (r#"return cjson.decode_max_depth()"#, r#"true 1000"#),
    (
        r#"return cjson.decode_max_depth(-5)"#,
        r#"false "user_script:1: bad argument #1 to 'decode_max_depth' (expected integer between 1 and 2147483647)""#,
    ),
    (
        r#"return cjson.encode_number_precision(15)"#,
        r#"false "user_script:1: bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)""#,
    ),
    (
        r#"return cjson.encode_number_precision(0)"#,
        r#"false "user_script:1: bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)""#,
    ),
    (r#"return cjson.encode_number_precision()"#, r#"true 14"#),
    (r#"return cjson.encode_keep_buffer()"#, r#"true true"#),
    (r#"return cjson.encode_keep_buffer("off")"#, r#"true false"#),
    (r#"return cjson.encode_keep_buffer(true)"#, r#"true true"#),
    (
        r#"return cjson.encode_keep_buffer(1)"#,
        r#"false "user_script:1: bad argument #1 to 'encode_keep_buffer' (invalid option '1')""#,
    ),
    (r#"return cjson.encode_invalid_numbers()"#, r#"true false"#),
    (
        r#"return cjson.encode_invalid_numbers("null")"#,
        r#"true "null""#,
    ),
    (
        r#"return cjson.encode_invalid_numbers("on")"#,
        r#"true true"#,
    ),
    (
        r#"return cjson.encode_invalid_numbers(false)"#,
        r#"true false"#,
    ),
    (
        r#"return cjson.encode_invalid_numbers("x")"#,
        r#"false "user_script:1: bad argument #1 to 'encode_invalid_numbers' (invalid option 'x')""#,
    ),
    (r#"return cjson.decode_invalid_numbers()"#, r#"true true"#),
    (
        r#"return cjson.decode_invalid_numbers("on")"#,
        r#"true true"#,
    ),
    (
        r#"cjson.encode_number_precision(3) local a = cjson.encode({3.14159, 1234567, 0.000123456}) cjson.encode_number_precision(14) return a"#,
        r#"true "[3.14,1.23e+06,0.000123]""#,
    ),
    (
        r#"cjson.encode_number_precision(1) local a = cjson.encode({3.14159, 15, 0.95}) cjson.encode_number_precision(14) return a"#,
        r#"true "[3,2e+01,0.9]""#,
    ),
    (
        r#"cjson.encode_invalid_numbers(true) local a = cjson.encode({1/0,-1/0,0/0,-(0/0)}) cjson.encode_invalid_numbers("null") local b = cjson.encode({1/0,0/0}) cjson.encode_invalid_numbers(false) return a .. b"#,
        r#"true "[inf,-inf,nan,nan][null,null]""#,
    ),
    (
        r#"cjson.encode_invalid_numbers(true) local ok, a = pcall(cjson.encode, {[1/0]=1}) cjson.encode_invalid_numbers(false) return a"#,
        r#"true "{"inf":1}""#,
    ),
    (
        r#"cjson.encode_sparse_array(true) local a = cjson.encode({[1]=1,[20]=2}) cjson.encode_sparse_array(false) return a"#,
        r#"true "{"1":1,"20":2}""#,
    ),
    (
        r#"cjson.encode_sparse_array(false, 0) local a = cjson.encode({[1]=1,[20]=2}) cjson.encode_sparse_array(false, 2) return a"#,
        r#"true "[1,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,2]""#,
    ),
    (
        r#"cjson.encode_sparse_array(false, 1, 0) local ok, a = pcall(cjson.encode, {[1]=1,[3]=2}) cjson.encode_sparse_array(false, 2, 10) return a"#,
        r#"true "Cannot serialise table: excessively sparse array""#,
    ),
    (
        r#"cjson.encode_sparse_array(false, 3, 2) local a = cjson.encode({[1]=1,[3]=2}) cjson.encode_sparse_array(false, 2, 10) return a"#,
        r#"true "[1,null,2]""#,
    ),
    (
        r#"cjson.decode_invalid_numbers(false) local r = {} for _, s in ipairs({"+1","01","0x10","inf","nan","-0x1","1.","-01","0","-inf","-0","1e5","0.5"}) do local ok, e = pcall(cjson.decode, s) r[#r+1] = s .. " " .. tostring(e) end cjson.decode_invalid_numbers(true) return r"#,
        r#"true {1="+1 Expected value but found invalid token at character 1",2="01 Expected value but found invalid number at character 1",3="0x10 Expected value but found invalid number at character 1",4="inf Expected value but found invalid token at character 1",5="nan Expected value but found invalid token at character 1",6="-0x1 Expected value but found invalid number at character 1",7="1. 1",8="-01 Expected value but found invalid number at character 1",9="0 0",10="-inf Expected value but found invalid number at character 1",11="-0 -0",12="1e5 100000",13="0.5 0.5"}"#,
    ),
    (
        r#"cjson.encode_max_depth(3) local ok, a = pcall(cjson.encode, {{{1}}}) local ok2, b = pcall(cjson.encode, {{{{1}}}}) cjson.encode_max_depth(1000) return {a, b}"#,
        r#"true {1="[[[1]]]",2="Cannot serialise, excessive nesting (4)"}"#,
    ),
    (
        r#"cjson.decode_max_depth(3) local ok, a = pcall(cjson.decode, '[[[1]]]') local ok2, b = pcall(cjson.decode, '[[{"a":[1]}]]') cjson.decode_max_depth(1000) return {ok, b}"#,
        r#"true {1=true,2="Found too many nested data structures (4) at character 8"}"#,
    ),
    (
        r#"cjson.encode_keep_buffer(false) local a = cjson.encode({1,2}) cjson.encode_keep_buffer(true) return a"#,
        r#"true "[1,2]""#,
    ),
    (
        r#"return cjson._NAME .. " " .. cjson._VERSION"#,
        r#"true "cjson 2.1.0""#,
    ),
    (r#"return type(cjson.new)"#, r#"true "function""#),
    (
        r#"local c2 = cjson.new() c2.encode_number_precision(2) local a = c2.encode(3.14159) .. cjson.encode(3.14159) return a"#,
        r#"true "3.13.14159""#,
    ),
    (r#"return cjson.null"#, r#"true userdata: (nil)"#),
    (r#"return type(cjson.null)"#, r#"true "userdata""#),
    (
        r#"return tostring(cjson.null)"#,
        r#"true "userdata: (nil)""#,
    ),
    (
        r#"return cjson.decode("[" .. string.rep("1,", 10000) .. "1]")[10001]"#,
        r#"true 1"#,
    ),
    (
        r#"return #cjson.encode(cjson.decode("[" .. string.rep('"abc",', 10000) .. '"x"]'))"#,
        r#"true 60005"#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack(string.rep("a",31)))"#,
        r#"true "bf61616161616161616161616161616161616161616161616161616161616161""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack(string.rep("a",32))):sub(1, 10)"#,
        r#"true "d920616161""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack(string.rep("a",255))):sub(1, 10)"#,
        r#"true "d9ff616161""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack(string.rep("a",256))):sub(1, 10)"#,
        r#"true "da01006161""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack(string.rep("a",65535))):sub(1, 10)"#,
        r#"true "daffff6161""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack(string.rep("a",65536))):sub(1, 12)"#,
        r#"true "db0001000061""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack(1.5, -1.5, 0.1, 1e300, -0.0, 2^63, -2^63, 2^64, 1/0, -1/0))"#,
        r#"true "ca3fc00000cabfc00000cb3fb999999999999acb7e37e43c8800759c00ca5f000000d38000000000000000ca5f800000caff800000ca7f800000""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack(0/0))"#,
        r#"true "cbfff8000000000000""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack(127,128,255,256,65535,65536,4294967295,4294967296,-32,-33,-128,-129,-32768,-32769,-2147483648,-2147483649))"#,
        r#"true "7fcc80ccffcd0100cdffffce00010000ceffffffffcf0000000100000000e0d0dfd080d1ff7fd18000d2ffff7fffd280000000d3ffffffff7fffffff""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack({}, {1,2,3}, {[1]=1,[3]=3}, {a=1}, true, false, nil))"#,
        r#"true "9093010203820101030381a16101c3c2c0""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack({[1.5]=1}, {["1"]=1}, {1,2,nil,4}, {[0]=1}, {[-1]=1}, cjson.null, coroutine.create(function() end)))"#,
        r#"true "81ca3fc000000181a131018301010202040481000181ff01c0c0""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack({a=1,b=2,c=3,d=4,e=5}))"#,
        r#"true "85a16101a16303a16202a16505a16404""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end local t = {} for i = 1, 20 do t[i] = i end return hx(cmsgpack.pack(t))"#,
        r#"true "dc00140102030405060708090a0b0c0d0e0f1011121314""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end local t = {} for i = 1, 20 do t["k" .. i] = i end return hx(cmsgpack.pack(t)):sub(1, 6)"#,
        r#"true "de0014""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end local t = {} for i = 1, 70000 do t[i] = 1 end return hx(cmsgpack.pack(t):sub(1, 8))"#,
        r#"true "dd00011170010101""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end local t={} local c=t for i=1,20 do c[1]={} c=c[1] end return hx(cmsgpack.pack(t))"#,
        r#"true "91919191919191919191919191919191c0""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end local t={} t.self = t return hx(cmsgpack.pack(t))"#,
        r#"true "81a473656c6681a473656c6681a473656c6681a473656c6681a473656c6681a473656c6681a473656c6681a473656c6681a473656c6681a473656c6681a473656c6681a473656c6681a473656c6681a473656c6681a473656c6681a473656c66c0""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack({[1]=1,[2]=2,[3.0]=3}, {[2^31]=1}, {[1]=1, [2^31]=2}))"#,
        r#"true "9301020381ce8000000001820101ce8000000002""#,
    ),
    (
        r#"local function hx(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end return hx(cmsgpack.pack(1e10, -1e10, 4294967295.5, 0.25, 3.4028234663852886e38, 1e-45))"#,
        r#"true "cf00000002540be400d3fffffffdabf41c00cb41effffffff00000ca3e800000ca7f7fffffcb3696d601ad376ab9""#,
    ),
    (
        r#"return cmsgpack.pack()"#,
        r#"false "user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)""#,
    ),
    (
        r#"return cmsgpack.unpack(cmsgpack.pack({1,2,{a="b"}}, "x", 1.5, true, false, -7))"#,
        r#"true {1=1,2=2,3={"a"="b"}} "x" 1.5 true false -7"#,
    ),
    (
        r#"return cmsgpack.unpack("\129\192\1")"#,
        r#"false "table index is nil""#,
    ),
    (
        r#"return cmsgpack.unpack("\129\203\255\248\0\0\0\0\0\0\1")"#,
        r#"false "table index is NaN""#,
    ),
    (
        r#"return cmsgpack.unpack("\193")"#,
        r#"false "user_script:1: Bad data format in input.""#,
    ),
    (
        r#"return cmsgpack.unpack("\199\1\1\1")"#,
        r#"false "user_script:1: Bad data format in input.""#,
    ),
    (
        r#"return cmsgpack.unpack("\196\3abc")"#,
        r#"false "user_script:1: Bad data format in input.""#,
    ),
    (
        r#"return cmsgpack.unpack("\197\0\3abc")"#,
        r#"false "user_script:1: Bad data format in input.""#,
    ),
    (
        r#"return cmsgpack.unpack("\198\0\0\0\3abc")"#,
        r#"false "user_script:1: Bad data format in input.""#,
    ),
    (r#"return cmsgpack.unpack("\217\3abc")"#, r#"true "abc""#),
    (
        r#"return cmsgpack.unpack("\217\3ab")"#,
        r#"false "user_script:1: Missing bytes in input.""#,
    ),
    (
        r#"return cmsgpack.unpack("\217")"#,
        r#"false "user_script:1: Missing bytes in input.""#,
    ),
    (r#"return cmsgpack.unpack("\218\0\3abc")"#, r#"true "abc""#),
    (
        r#"return cmsgpack.unpack("\219\0\0\0\3abc")"#,
        r#"true "abc""#,
    ),
    (
        r#"return cmsgpack.unpack("\219\255\255\255\255abc")"#,
        r#"false "user_script:1: Missing bytes in input.""#,
    ),
    (
        r#"return cmsgpack.unpack("\163ab")"#,
        r#"false "user_script:1: Missing bytes in input.""#,
    ),
    (r#"return cmsgpack.unpack("")"#, r#"true"#),
    (
        r#"return cmsgpack.unpack()"#,
        r#"false "user_script:1: bad argument #1 to 'unpack' (string expected, got no value)""#,
    ),
    (r#"return cmsgpack.unpack(12)"#, r#"true 49 50"#),
    (
        r#"return cmsgpack.unpack({})"#,
        r#"false "user_script:1: bad argument #1 to 'unpack' (string expected, got table)""#,
    ),
    (
        r#"return cmsgpack.unpack("\207\255\255\255\255\255\255\255\255")"#,
        r#"true -1"#,
    ),
    (
        r#"return cmsgpack.unpack("\207\0\0\0\1\0\0\0\0")"#,
        r#"true 4294967296"#,
    ),
    (
        r#"return cmsgpack.unpack("\211\128\0\0\0\0\0\0\0")"#,
        r#"true -9.2233720368547758e+18"#,
    ),
    (
        r#"return cmsgpack.unpack("\202\63\192\0\0")"#,
        r#"true 1.5"#,
    ),
    (
        r#"return cmsgpack.unpack("\202\127\128\0\0")"#,
        r#"true inf"#,
    ),
    (
        r#"return cmsgpack.unpack("\203\64\9\33\251\84\68\45\24")"#,
        r#"true 3.1415926535897931"#,
    ),
    (
        r#"return cmsgpack.unpack("\203\64\9")"#,
        r#"false "user_script:1: Missing bytes in input.""#,
    ),
    (r#"return cmsgpack.unpack_one("\1\2\3")"#, r#"true 1 1"#),
    (r#"return cmsgpack.unpack_one("\1\2\3", 1)"#, r#"true 2 2"#),
    (r#"return cmsgpack.unpack_one("\1\2\3", 2)"#, r#"true -1 3"#),
    (r#"return cmsgpack.unpack_one("\1\2\3", 3)"#, r#"true -1"#),
    (
        r#"return cmsgpack.unpack_one("\1\2\3", 4)"#,
        r#"false "user_script:1: Start offset 4 greater than input length 3.""#,
    ),
    (
        r#"return cmsgpack.unpack_one("\1\2\3", -1)"#,
        r#"false "user_script:1: Invalid request to unpack with offset of -1 and limit of 3.""#,
    ),
    (
        r#"return cmsgpack.unpack_one("\1\2\3", nil)"#,
        r#"true 1 1"#,
    ),
    (
        r#"return cmsgpack.unpack_one("\1\2\3", "1")"#,
        r#"true 2 2"#,
    ),
    (
        r#"return cmsgpack.unpack_one("\1\2\3", "x")"#,
        r#"false "user_script:1: bad argument #2 to 'unpack_one' (number expected, got string)""#,
    ),
    (
        r#"return cmsgpack.unpack_one()"#,
        r#"false "user_script:1: bad argument #1 to 'unpack_one' (string expected, got no value)""#,
    ),
    (
        r#"return cmsgpack.unpack_limit("\1\2\3", 2)"#,
        r#"true 2 1 2"#,
    ),
    (
        r#"return cmsgpack.unpack_limit("\1\2\3", 0)"#,
        r#"true 1 2 3"#,
    ),
    (
        r#"return cmsgpack.unpack_limit("\1\2\3", 0, 1)"#,
        r#"true 1"#,
    ),
    (
        r#"return cmsgpack.unpack_limit("\1\2\3", 5, 1)"#,
        r#"true -1 2 3"#,
    ),
    (
        r#"return cmsgpack.unpack_limit("\1\2\3", -1)"#,
        r#"false "user_script:1: Invalid request to unpack with offset of 0 and limit of 3.""#,
    ),
    (
        r#"return cmsgpack.unpack_limit("\1\2\3")"#,
        r#"false "user_script:1: bad argument #2 to 'unpack_limit' (number expected, got no value)""#,
    ),
    (
        r#"return cmsgpack.unpack_limit("\1\2\3", "x")"#,
        r#"false "user_script:1: bad argument #2 to 'unpack_limit' (number expected, got string)""#,
    ),
    (
        r#"return cmsgpack.unpack_limit({}, 1)"#,
        r#"false "user_script:1: bad argument #1 to 'unpack_limit' (string expected, got table)""#,
    ),
    (
        r#"return cmsgpack.unpack_one("\1\2\3", 1.9)"#,
        r#"true 2 2"#,
    ),
    (
        r#"return cmsgpack.unpack_one("\1\2\3", 1e10)"#,
        r#"false "user_script:1: Start offset 1410065408 greater than input length 3.""#,
    ),
    (
        r#"return cmsgpack.unpack("\221\255\255\255\255")"#,
        r#"false "user_script:1: Missing bytes in input.""#,
    ),
    (
        r#"return cmsgpack.unpack("\146\1")"#,
        r#"false "user_script:1: Missing bytes in input.""#,
    ),
    (
        r#"return cmsgpack.unpack("\130\1\2")"#,
        r#"false "user_script:1: Missing bytes in input.""#,
    ),
    (
        r#"return cmsgpack.unpack("\220\0")"#,
        r#"false "user_script:1: Missing bytes in input.""#,
    ),
    (
        r#"return cmsgpack.unpack("\220\0\2\1\2")"#,
        r#"true {1=1,2=2}"#,
    ),
    (r#"return cmsgpack.unpack("\222\0\1\1\2")"#, r#"true {1=2}"#),
    (
        r#"return cmsgpack.unpack("\223\0\0\0\1\1\2")"#,
        r#"true {1=2}"#,
    ),
    (
        r#"return cmsgpack.unpack("\212\1\1")"#,
        r#"false "user_script:1: Bad data format in input.""#,
    ),
    (
        r#"return cmsgpack.unpack("\214\1\1\1\1\1")"#,
        r#"false "user_script:1: Bad data format in input.""#,
    ),
    (r#"return cmsgpack.unpack("\208\255")"#, r#"true -1"#),
    (
        r#"return cmsgpack.unpack("\208")"#,
        r#"false "user_script:1: Missing bytes in input.""#,
    ),
    (r#"return cmsgpack.unpack("\209\255\254")"#, r#"true -2"#),
    (
        r#"return cmsgpack.unpack("\210\255\255\255\254")"#,
        r#"true -2"#,
    ),
    (r#"return cmsgpack.unpack("\204\200")"#, r#"true 200"#),
    (r#"return cmsgpack.unpack("\205\1\0")"#, r#"true 256"#),
    (
        r#"return cmsgpack.unpack("\206\255\255\255\255")"#,
        r#"true 4294967295"#,
    ),
    (r#"return cmsgpack.unpack("\255")"#, r#"true -1"#),
    (r#"return cmsgpack.unpack("\224")"#, r#"true -32"#),
    (
        r#"return cmsgpack.unpack("\129\145\1\2")"#,
        r#"true {{1=1}=2}"#,
    ),
    (
        r#"return cmsgpack.unpack("\147\192\1\192")"#,
        r#"true {2=1}"#,
    ),
    (
        r#"return cmsgpack.unpack("\131\1\192\2\2\3\3")"#,
        r#"true {2=2,3=3}"#,
    ),
    (r#"return cmsgpack.unpack("\144\128")"#, r#"true {} {}"#),
    (
        r#"return cmsgpack.unpack("\1\2\3\4\5")"#,
        r#"true 1 2 3 4 5"#,
    ),
    (
        r#"return select('#', cmsgpack.unpack(string.rep("\192", 5)))"#,
        r#"true 5"#,
    ),
    (
        r#"return #{cmsgpack.unpack(string.rep("\1", 7999))}"#,
        r#"true 7999"#,
    ),
    (
        r#"return cmsgpack.unpack(string.rep("\1", 8000))"#,
        r#"false "user_script:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)""#,
    ),
    (
        r#"return cmsgpack.unpack(string.rep("\145", 3999) .. "\192")"#,
        r#"true {1={1={1={1={1={1={1={1={1={...}}}}}}}}}}"#,
    ),
    (
        r#"return cmsgpack.unpack(string.rep("\145", 4000) .. "\192")"#,
        r#"false "user_script:1: stack overflow (in function mp_decode_to_lua_array)""#,
    ),
    (
        r#"return cmsgpack.unpack(string.rep("\129\1", 3999) .. "\192")"#,
        r#"true {1={1={1={1={1={1={1={1={1={...}}}}}}}}}}"#,
    ),
    (
        r#"return cmsgpack.unpack(string.rep("\129\1", 4000) .. "\192")"#,
        r#"false "user_script:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)""#,
    ),
    (
        r#"return cmsgpack.unpack_one(string.rep("\145", 4000) .. "\192")"#,
        r#"false "user_script:1: stack overflow (in function mp_decode_to_lua_array)""#,
    ),
    (
        r#"return cmsgpack.unpack_limit(string.rep("\1", 7999), 7999)"#,
        r#"false "user_script:1: stack overflow (in function mp_unpack_full)""#,
    ),
    (
        r#"return select('#', cmsgpack.unpack_limit(string.rep("\1", 7998), 7998))"#,
        r#"true 7999"#,
    ),
    (
        r#"return cmsgpack._NAME .. " " .. cmsgpack._VERSION .. " " .. cmsgpack._COPYRIGHT .. " " .. cmsgpack._DESCRIPTION"#,
        r#"true "cmsgpack lua-cmsgpack 0.4.0 Copyright (C) 2012, Salvatore Sanfilippo MessagePack C implementation for Lua""#,
    ),
    (
        r#"return cmsgpack.unpack(cmsgpack.pack(string.rep("x", 70000))) == string.rep("x", 70000)"#,
        r#"true true"#,
    ),
    (
        r#"local t = {} for i = 1, 5000 do t[i] = {i, tostring(i)} end local u = cmsgpack.unpack(cmsgpack.pack(t)) return u[5000][2] .. u[1][2] .. #u"#,
        r#"true "500015000""#,
    ),
    (r#"return bit.tobit(0xffffffff)"#, r#"true -1"#),
    (r#"return bit.tobit(2^32+5)"#, r#"true 5"#),
    (r#"return bit.tobit(1.5)"#, r#"true 2"#),
    (r#"return bit.tobit(2.5)"#, r#"true 2"#),
    (r#"return bit.tobit(-1.5)"#, r#"true -2"#),
    (r#"return bit.tobit(2^52)"#, r#"true 0"#),
    (r#"return bit.tobit(2^53+3)"#, r#"true 2"#),
    (r#"return bit.tobit(1e20)"#, r#"true 2025163840"#),
    (r#"return bit.tobit(-2^31)"#, r#"true -2147483648"#),
    (r#"return bit.tobit("10")"#, r#"true 10"#),
    (r#"return bit.tobit("0x10")"#, r#"true 16"#),
    (r#"return bit.tobit(" 12 ")"#, r#"true 12"#),
    (
        r#"return bit.tobit("x")"#,
        r#"false "user_script:1: bad argument #1 to 'tobit' (number expected, got string)""#,
    ),
    (
        r#"return bit.tobit()"#,
        r#"false "user_script:1: bad argument #1 to 'tobit' (number expected, got no value)""#,
    ),
    (
        r#"return bit.tobit(nil)"#,
        r#"false "user_script:1: bad argument #1 to 'tobit' (number expected, got nil)""#,
    ),
    (r#"return bit.tobit(0/0)"#, r#"true 0"#),
    (r#"return bit.tobit(1/0)"#, r#"true 0"#),
    (r#"return bit.tobit(-0.5)"#, r#"true 0"#),
    (r#"return bit.tobit(0.5)"#, r#"true 0"#),
    (r#"return bit.tobit(3.5)"#, r#"true 4"#),
    (r#"return bit.tobit(-2^63)"#, r#"true 0"#),
    (r#"return bit.tobit(2^60 + 2^40)"#, r#"true 0"#),
    (r#"return bit.tohex(255)"#, r#"true "000000ff""#),
    (r#"return bit.tohex(-1)"#, r#"true "ffffffff""#),
    (r#"return bit.tohex(255, -4)"#, r#"true "00FF""#),
    (r#"return bit.tohex(255, 2)"#, r#"true "ff""#),
    (r#"return bit.tohex(255, 0)"#, r#"true """#),
    (r#"return bit.tohex(255, 12)"#, r#"true "000000ff""#),
    (r#"return bit.tohex(255, -12)"#, r#"true "000000FF""#),
    (r#"return bit.tohex(0x12345678, 3)"#, r#"true "678""#),
    (r#"return bit.tohex(0xabcdef, -6)"#, r#"true "ABCDEF""#),
    (
        r#"return bit.tohex("ff")"#,
        r#"false "user_script:1: bad argument #1 to 'tohex' (number expected, got string)""#,
    ),
    (
        r#"return bit.tohex(1,"x")"#,
        r#"false "user_script:1: bad argument #2 to 'tohex' (number expected, got string)""#,
    ),
    (
        r#"return bit.tohex(1, nil)"#,
        r#"false "user_script:1: bad argument #2 to 'tohex' (number expected, got nil)""#,
    ),
    (r#"return bit.tohex(1, 2^31)"#, r#"true "00000001""#),
    (r#"return bit.tohex(0xabcdef, 2^31)"#, r#"true "00ABCDEF""#),
    (r#"return bit.tohex(0xabcdef, -2^31)"#, r#"true "00ABCDEF""#),
    (r#"return bit.tohex(1, -2^31+1)"#, r#"true "00000001""#),
    (r#"return bit.bnot(0)"#, r#"true -1"#),
    (r#"return bit.bnot(-1)"#, r#"true 0"#),
    (r#"return bit.bnot(0x0f0f0f0f)"#, r#"true -252645136"#),
    (r#"return bit.band(0xff, 0x0f, 0x3)"#, r#"true 3"#),
    (r#"return bit.bor(1,2,4)"#, r#"true 7"#),
    (r#"return bit.bxor(1,3)"#, r#"true 2"#),
    (r#"return bit.bxor(1)"#, r#"true 1"#),
    (
        r#"return bit.band()"#,
        r#"false "user_script:1: bad argument #1 to 'band' (number expected, got no value)""#,
    ),
    (
        r#"return bit.band(1, "x")"#,
        r#"false "user_script:1: bad argument #2 to 'band' (number expected, got string)""#,
    ),
    (
        r#"return bit.band(1, {}, "y")"#,
        r#"false "user_script:1: bad argument #3 to 'band' (number expected, got string)""#,
    ),
    (
        r#"return bit.bor(true)"#,
        r#"false "user_script:1: bad argument #1 to 'bor' (number expected, got boolean)""#,
    ),
    (r#"return bit.band(2^31)"#, r#"true -2147483648"#),
    (r#"return bit.bor(0xf0000000, 0x0f)"#, r#"true -268435441"#),
    (r#"return bit.lshift(1, 31)"#, r#"true -2147483648"#),
    (r#"return bit.lshift(1, 32)"#, r#"true 1"#),
    (r#"return bit.lshift(1, 33)"#, r#"true 2"#),
    (r#"return bit.lshift(1, -1)"#, r#"true -2147483648"#),
    (r#"return bit.lshift(0xff, 28)"#, r#"true -268435456"#),
    (
        r#"return bit.lshift(1)"#,
        r#"false "user_script:1: bad argument #2 to 'lshift' (number expected, got no value)""#,
    ),
    (r#"return bit.rshift(-1, 28)"#, r#"true 15"#),
    (r#"return bit.rshift(0x80000000, 31)"#, r#"true 1"#),
    (r#"return bit.rshift(-1, 0)"#, r#"true -1"#),
    (r#"return bit.arshift(-256, 4)"#, r#"true -16"#),
    (r#"return bit.arshift(0x80000000, 31)"#, r#"true -1"#),
    (r#"return bit.arshift(256, 4)"#, r#"true 16"#),
    (r#"return bit.rol(0x12345678, 8)"#, r#"true 878082066"#),
    (r#"return bit.ror(0x12345678, 8)"#, r#"true 2014458966"#),
    (r#"return bit.rol(1, 0)"#, r#"true 1"#),
    (r#"return bit.rol(0x80000000, 1)"#, r#"true 1"#),
    (r#"return bit.ror(1, 1)"#, r#"true -2147483648"#),
    (r#"return bit.ror(1, 33)"#, r#"true -2147483648"#),
    (r#"return bit.bswap(0x12345678)"#, r#"true 2018915346"#),
    (r#"return bit.bswap(-1)"#, r#"true -1"#),
    (r#"return bit.bswap(0xff)"#, r#"true -16777216"#),
    (
        r#"cjson.decode_max_depth(100000) local ok, e = pcall(cjson.decode, string.rep("[", 7998) .. string.rep("]", 7998)) cjson.decode_max_depth(1000) return ok, type(e)"#,
        r#"true true "table""#,
    ),
    (
        r#"cjson.decode_max_depth(100000) local ok, e = pcall(cjson.decode, string.rep("[", 7999) .. string.rep("]", 7999)) cjson.decode_max_depth(1000) return ok, e"#,
        r#"true false "Found too many nested data structures (7999) at character 7999""#,
    ),
    (
        r#"cjson.decode_max_depth(100000) local ok, e = pcall(cjson.decode, string.rep('{"a":', 3999) .. "1" .. string.rep("}", 3999)) cjson.decode_max_depth(1000) return ok, type(e)"#,
        r#"true true "table""#,
    ),
    (
        r#"cjson.decode_max_depth(100000) local ok, e = pcall(cjson.decode, string.rep('{"a":', 4000) .. "1" .. string.rep("}", 4000)) cjson.decode_max_depth(1000) return ok, e"#,
        r#"true false "Found too many nested data structures (4000) at character 19996""#,
    ),
    (
        r#"cjson.decode_max_depth(100000) local ok, e = pcall(cjson.decode, string.rep('[{"a":', 2700) .. "1" .. string.rep("}]", 2700)) cjson.decode_max_depth(1000) return ok, e"#,
        r#"true false "Found too many nested data structures (5333) at character 15997""#,
    ),
    (
        r#"cjson.decode_max_depth(100000) local ok, e = pcall(cjson.decode, string.rep('[{"a":', 2600) .. "1" .. string.rep("}]", 2600)) cjson.decode_max_depth(1000) local d = 0 while type(e) == "table" do d = d + 1 e = e[1] or e.a end return ok, d, e"#,
        r#"true true 5200 1"#,
    ),
    (
        r#"cjson.encode_max_depth(100000) local t = {} local c = t for i = 1, 7996 do c[1] = {} c = c[1] end local ok, e = pcall(cjson.encode, t) cjson.encode_max_depth(1000) return ok, #e"#,
        r#"true true 15994"#,
    ),
    (
        r#"cjson.encode_max_depth(100000) local t = {} local c = t for i = 1, 7997 do c[1] = {} c = c[1] end local ok, e = pcall(cjson.encode, t) cjson.encode_max_depth(1000) return ok, e"#,
        r#"true false "Cannot serialise, excessive nesting (7998)""#,
    ),
    (
        r#"cjson.encode_max_depth(100000) local t = {} local c = t for i = 1, 3998 do c.a = {} c = c.a end local ok, e = pcall(cjson.encode, t) cjson.encode_max_depth(1000) return ok, #e"#,
        r#"true true 23990"#,
    ),
    (
        r#"cjson.encode_max_depth(100000) local t = {} local c = t for i = 1, 3999 do c.a = {} c = c.a end local ok, e = pcall(cjson.encode, t) cjson.encode_max_depth(1000) return ok, e"#,
        r#"true false "Cannot serialise, excessive nesting (4000)""#,
    ),
    (
        r#"cjson.encode_max_depth(100000) local t = {} local c = t for i = 1, 2700 do c[1] = {a = {}} c = c[1].a end local ok, e = pcall(cjson.encode, t) cjson.encode_max_depth(1000) return ok, e"#,
        r#"true false "Cannot serialise, excessive nesting (5333)""#,
    ),
    (
        r#"cjson.encode_max_depth(100000) local t = {} local c = t for i = 1, 2600 do c[1] = {a = {}, b = 1} c = c[1].a end local ok, e = pcall(cjson.encode, t) cjson.encode_max_depth(1000) return ok, #e"#,
        r#"true true 36402"#,
    ),
    (
        r#"local ok, e = pcall(cmsgpack.unpack, string.rep("\145\129\1", 1400) .. "\192") return ok, e"#,
        r#"true true {1={1={1={1={1={1={1={1={1={...}}}}}}}}}}"#,
    ),
    (
        r#"local ok, e = pcall(cmsgpack.unpack, string.rep("\145\129\1", 1300) .. "\192") local d = 0 while type(e) == "table" do d = d + 1 e = e[1] end return ok, d"#,
        r#"true true 2600"#,
    ),
    (
        r#"local ok, e = pcall(cmsgpack.unpack, string.rep("\129\145", 2000) .. "\1\192") return ok, e"#,
        r#"true false "Missing bytes in input.""#,
    ),
    (
        r#"local ok, e = pcall(cmsgpack.unpack, string.rep("\129\145", 1999) .. "\1\192") return ok, type(e)"#,
        r#"true false "string""#,
    ),
    (
        r#"return cmsgpack.unpack("\129\129\1\2\3")"#,
        r#"true {{1=2}=3}"#,
    ),
    (r#"return cmsgpack.unpack("\129\145\1\192")"#, r#"true {}"#),
    (
        r#"return cmsgpack.unpack("\129\192\145\1")"#,
        r#"false "table index is nil""#,
    ),
    (
        r#"local t = {} for i = 1, 100000 do t[i] = i * 1.5 end local s = cjson.encode(t) local u = cjson.decode(s) return #s, #u, u[100000], u[77777]"#,
        r#"true 725931 100000 150000 116665.5"#,
    ),
    (
        r#"local t = {} for i = 1, 20000 do t["key" .. i] = {i, "v" .. i, i % 2 == 0} end local s = cjson.encode(t) local u = cjson.decode(s) return #s, u.key20000[2], u.key1[3], u.key2[3]"#,
        r#"true 636683 "v20000" false true"#,
    ),
    (
        r#"local s = string.rep("\1\"\\/abc\200", 50000) local e = cjson.encode(s) return #e, cjson.decode(e) == s"#,
        r#"true 800002 true"#,
    ),
    (
        r#"local t = {} for i = 1, 100000 do t[i] = {i, -i, "s" .. i, i / 7} end local p = cmsgpack.pack(t) local u = cmsgpack.unpack(p) return #p, #u, u[100000][3], u[99999][4]"#,
        r#"true 2405660 100000 "s100000" 14285.571428571429"#,
    ),
    (
        r#"local t = {} for i = 1, 20000 do t["k" .. i] = i end local u = cmsgpack.unpack(cmsgpack.pack(t)) local n = 0 for k, v in pairs(u) do n = n + 1 end return n, u.k777"#,
        r#"true 20000 777"#,
    ),
    (
        r#"return cmsgpack.unpack(string.rep("\145", 5) .. "\192") "#,
        r#"true {1={1={1={1={}}}}}"#,
    ),
    (
        r#"return cjson.encode({["\0"]=1})"#,
        r#"true "{"\u0000":1}""#,
    ),
    (r#"return cjson.encode({[-0.0]=1})"#, r#"true "{"-0":1}""#),
    (r#"return cjson.encode({[0.1]=1})"#, r#"true "{"0.1":1}""#),
    (
        r#"return cjson.encode(3), cjson.encode(-3), cjson.encode(1e14), cjson.encode(99999999999999), cjson.encode(999999999999999)"#,
        r#"true "3" "-3" "1e+14" "99999999999999" "1e+15""#,
    ),
    (
        r#"return cjson.encode(1e-4), cjson.encode(1.5e-5), cjson.encode(123456.789), cjson.encode(0.1 + 0.2)"#,
        r#"true "0.0001" "1.5e-05" "123456.789" "0.3""#,
    ),
    (
        r#"return bit.tohex(255, -2^31+1), bit.tohex(255, 7), bit.tohex(255, -1)"#,
        r#"true "000000FF" "00000ff" "F""#,
    ),
];
