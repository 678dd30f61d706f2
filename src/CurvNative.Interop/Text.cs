using System.Text;

namespace CurvNative.Interop;

/// <summary>Formatting helpers for error messages built from untrusted file content.</summary>
internal static class Text
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
                    if (char.IsControl(c) || char.IsSurrogate(c)) sb.Append($"\\u{(int)c:x4}");
                    else sb.Append(c);
                    break;
            }
        }
        if (s.Length > max) sb.Append($"...({s.Length} characters)");
        return sb.ToString();
    }

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
