using System.Text;

namespace CurvNative.Interop;

/// <summary>
/// Formatting helpers for messages built from untrusted input (file content, option values, paths): the one
/// control-character escaper of CurvNative. Every message that quotes input goes through <see cref="Quote"/> or
/// <see cref="Escape"/>, and the command line passes each final error line through
/// <see cref="EscapeControlCharacters"/>, so no ESC, BEL or bidirectional override from a file reaches a terminal.
/// New readers (ONNX, PDE inputs) quote names and values with <see cref="Quote"/>.
/// </summary>
public static class Text
{
    /// <summary>Quotes a string for a message: control characters escaped, long strings cut.</summary>
    public static string Quote(string s, int max = 120) => "'" + Escape(s, max) + "'";

    /// <summary>Escapes control characters, quotes and backslashes; cuts after <paramref name="max"/> characters.</summary>
    public static string Escape(string s, int max = 120)
    {
        var sb = new StringBuilder(Math.Min(s.Length, max) + 16);
        int n = Math.Min(s.Length, max);
        for (int i = 0; i < n; i++)
        {
            char c = s[i];
            switch (c)
            {
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\\': sb.Append("\\\\"); break;
                case '\'': sb.Append("\\'"); break;
                default:
                    if (NeedsEscape(c)) sb.Append($"\\u{(int)c:x4}");
                    else sb.Append(c);
                    break;
            }
        }
        if (s.Length > max) sb.Append($"...({s.Length} characters)");
        return sb.ToString();
    }

    /// <summary>Escapes only control characters (C0, DEL, C1), lone surrogates and bidirectional controls as
    /// <c>\uXXXX</c>, leaving everything else, backslashes included, as it is: safe to apply to a whole message
    /// whose quoted parts were already escaped.</summary>
    public static string EscapeControlCharacters(string s)
    {
        int first = 0;
        while (first < s.Length && !NeedsEscape(s, first)) first++;
        if (first == s.Length) return s;
        var sb = new StringBuilder(s.Length + 16).Append(s, 0, first);
        for (int i = first; i < s.Length; i++)
        {
            if (NeedsEscape(s, i)) sb.Append($"\\u{(int)s[i]:x4}");
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }

    // A well-formed surrogate pair is printable text (an emoji); only a lone half is escaped.
    private static bool NeedsEscape(string s, int i)
    {
        char c = s[i];
        if (char.IsHighSurrogate(c)) return i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1]);
        if (char.IsLowSurrogate(c)) return i == 0 || !char.IsHighSurrogate(s[i - 1]);
        return NeedsEscape(c);
    }

    private static bool NeedsEscape(char c) =>
        char.IsControl(c) || char.IsSurrogate(c) || c is (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069') or '\u200e' or '\u200f';

    /// <summary>Shows raw bytes as Latin-1 text with non-printable bytes escaped, cut at <paramref name="max"/> bytes.</summary>
    public static string Bytes(ReadOnlySpan<byte> bytes, int max = 120)
    {
        var sb = new StringBuilder();
        sb.Append('"');
        int n = Math.Min(bytes.Length, max);
        for (int i = 0; i < n; i++)
        {
            byte b = bytes[i];
            if (b == (byte)'"' || b == (byte)'\\') sb.Append('\\').Append((char)b);
            else if (b == (byte)'\n') sb.Append("\\n");
            else if (b >= 0x20 && b < 0x7f) sb.Append((char)b);
            else sb.Append($"\\x{b:x2}");
        }
        sb.Append('"');
        if (bytes.Length > max) sb.Append($"...({bytes.Length} bytes)");
        return sb.ToString();
    }

    public static string Shape(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    /// <summary>True when the string is well-formed UTF-16 (no lone surrogates), so it encodes to UTF-8.</summary>
    public static bool IsWellFormed(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1])) return false;
                i++;
            }
            else if (char.IsLowSurrogate(c)) return false;
        }
        return true;
    }
}
