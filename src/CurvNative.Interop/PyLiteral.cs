namespace CurvNative.Interop;

/// <summary>
/// A parser for the subset of Python literal syntax found in <c>.npy</c> headers (what <c>ast.literal_eval</c>
/// accepts there): a dict of quoted string keys to strings, <c>True</c>/<c>False</c>/<c>None</c>, integers
/// (with an optional Python 2 <c>L</c> suffix), tuples, lists and nested dicts. Linear time, bounded nesting.
/// Every syntax problem is reported through the <c>fail</c> callback, which must return an exception to throw.
/// </summary>
internal sealed class PyLiteral
{
    internal abstract record Value(string Raw)
    {
        /// <summary>How a message describes the value: "the string '...'", "a list", ...</summary>
        public abstract string Describe { get; }
    }

    internal sealed record Str(string V, string Raw) : Value(Raw)
    {
        public override string Describe => $"the string {Text.Quote(V, 40)}";
    }

    internal sealed record Bool(bool V, string Raw) : Value(Raw)
    {
        public override string Describe => V ? "True" : "False";
    }

    /// <summary>An integer; <see cref="Overflow"/> when it does not fit in a long (then <see cref="V"/> is meaningless).</summary>
    internal sealed record Int(long V, bool Overflow, string Raw) : Value(Raw)
    {
        public override string Describe => $"the int {Text.Escape(Raw, 40)}";
    }

    internal sealed record Tuple(List<Value> Items, string Raw) : Value(Raw)
    {
        public override string Describe => $"the tuple {Text.Escape(Raw, 60)}";
    }

    /// <summary>Anything else the syntax allows (list, dict, float, None): described but not interpreted.</summary>
    internal sealed record Other(string What, string Raw) : Value(Raw)
    {
        public override string Describe => Raw.Length == 0 ? What : $"{What} {Text.Escape(Raw, 60)}";
    }

    private const int MaxDepth = 32;
    private readonly string _s;
    private readonly Func<string, Exception> _fail;
    private int _pos;

    private PyLiteral(string s, Func<string, Exception> fail)
    {
        _s = s;
        _fail = fail;
    }

    /// <summary>Parses a whole text that must be one dict literal followed only by whitespace.</summary>
    public static List<(string Key, Value Value)> ParseDict(string text, Func<string, Exception> fail)
    {
        var p = new PyLiteral(text, fail);
        p.SkipWs();
        if (p.AtEnd || p.Peek != '{')
            throw p.Fail($"expected the header to start with '{{' (a Python dict literal)");
        var entries = p.DictBody(1);
        p.SkipWs();
        if (!p.AtEnd)
            throw p.Fail("unexpected text after the closing '}' of the header dict");
        return entries;
    }

    private bool AtEnd => _pos >= _s.Length;
    private char Peek => _s[_pos];

    private Exception Fail(string what) =>
        _fail($"{what} at character {_pos} of the header {Text.Quote(_s, 160)}.");

    private void SkipWs()
    {
        while (!AtEnd && Peek is ' ' or '\t' or '\n' or '\r' or '\f' or '\v') _pos++;
    }

    // At '{': parses entries up to and including '}'.
    private List<(string, Value)> DictBody(int depth)
    {
        _pos++; // '{'
        var entries = new List<(string, Value)>();
        SkipWs();
        if (!AtEnd && Peek == '}') { _pos++; return entries; }
        while (true)
        {
            int keyAt = _pos;
            var key = Parse(depth + 1);
            if (key is not Str ks)
            {
                _pos = keyAt;
                throw Fail($"expected a quoted string key, found {key.Describe}");
            }
            SkipWs();
            if (AtEnd || Peek != ':') throw Fail($"expected ':' after the key {Text.Quote(ks.V, 40)}");
            _pos++;
            var value = Parse(depth + 1);
            entries.Add((ks.V, value));
            SkipWs();
            if (AtEnd) throw Fail("the header ended inside the dict; expected ',' or '}'");
            if (Peek == '}') { _pos++; return entries; }
            if (Peek != ',') throw Fail($"expected ',' or '}}', found {Text.Quote(Peek.ToString())}");
            _pos++;
            SkipWs();
            if (!AtEnd && Peek == '}') { _pos++; return entries; }
        }
    }

    // At '(' or '[': parses items up to and including the closing bracket; reports whether a comma was seen.
    private List<Value> Sequence(int depth, char close, out bool sawComma)
    {
        _pos++;
        var items = new List<Value>();
        sawComma = false;
        SkipWs();
        if (!AtEnd && Peek == close) { _pos++; return items; }
        while (true)
        {
            items.Add(Parse(depth + 1));
            SkipWs();
            if (AtEnd) throw Fail($"the header ended inside a sequence; expected ',' or '{close}'");
            if (Peek == close) { _pos++; return items; }
            if (Peek != ',') throw Fail($"expected ',' or '{close}', found {Text.Quote(Peek.ToString())}");
            _pos++;
            sawComma = true;
            SkipWs();
            if (!AtEnd && Peek == close) { _pos++; return items; }
        }
    }

    private Value Parse(int depth)
    {
        if (depth > MaxDepth) throw Fail($"the header nests more than {MaxDepth} levels deep");
        SkipWs();
        if (AtEnd) throw Fail("the header ended where a value was expected");
        int start = _pos;
        char c = Peek;
        switch (c)
        {
            case '\'' or '"':
                return ParseString(c);
            case '(':
            {
                var items = Sequence(depth, ')', out bool comma);
                // (x) is a parenthesised expression in Python, not a 1-tuple.
                if (items.Count == 1 && !comma) return items[0];
                return new Tuple(items, _s[start.._pos]);
            }
            case '[':
                Sequence(depth, ']', out _);
                return new Other("the list", _s[start.._pos]);
            case '{':
                DictBody(depth);
                return new Other("the dict", _s[start.._pos]);
        }
        if (c == '-' || c == '+' || char.IsAsciiDigit(c)) return ParseNumber();
        if (char.IsAsciiLetter(c) || c == '_')
        {
            while (!AtEnd && (char.IsAsciiLetterOrDigit(Peek) || Peek == '_')) _pos++;
            string word = _s[start.._pos];
            return word switch
            {
                "True" => new Bool(true, word),
                "False" => new Bool(false, word),
                "None" => new Other("None", ""),
                _ => throw Fail($"unexpected name {Text.Quote(word, 40)}; expected a literal"),
            };
        }
        throw Fail($"unexpected character {Text.Quote(c.ToString())}");
    }

    private Value ParseString(char quote)
    {
        int start = _pos;
        _pos++;
        var sb = new System.Text.StringBuilder();
        while (true)
        {
            if (AtEnd || Peek == '\n') throw Fail("unterminated string");
            char c = _s[_pos++];
            if (c == quote) return new Str(sb.ToString(), _s[start.._pos]);
            if (c == '\\')
            {
                if (AtEnd) throw Fail("unterminated string");
                sb.Append(_s[_pos++]);
            }
            else sb.Append(c);
        }
    }

    private Value ParseNumber()
    {
        int start = _pos;
        bool negative = false;
        if (Peek is '-' or '+')
        {
            negative = Peek == '-';
            _pos++;
            SkipWs();
        }
        if (AtEnd || !char.IsAsciiDigit(Peek)) throw Fail("expected digits after the sign");
        long v = 0;
        bool overflow = false;
        while (!AtEnd && char.IsAsciiDigit(Peek))
        {
            int digit = _s[_pos++] - '0';
            if (v > (long.MaxValue - digit) / 10) overflow = true;
            else v = v * 10 + digit;
        }
        if (!AtEnd && Peek is '.' or 'e' or 'E' or 'j' or 'J')
        {
            while (!AtEnd && (char.IsAsciiDigit(Peek) || Peek is '.' or 'e' or 'E' or 'j' or 'J' or '+' or '-')) _pos++;
            return new Other("the number", _s[start.._pos]);
        }
        if (!AtEnd && Peek is 'L' or 'l') _pos++; // Python 2 long literal, as numpy's reader tolerates
        return new Int(negative ? -v : v, overflow, _s[start.._pos]);
    }
}
