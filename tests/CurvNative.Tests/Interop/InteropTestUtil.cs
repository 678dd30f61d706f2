using System.Text;
using CurvNative.Interop;
using Xunit;

namespace CurvNative.Tests.Interop;

/// <summary>A fresh directory under the system temp folder, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "curvnative-interop-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Every entry in the directory, for asserting that no temporary files were left behind.</summary>
    public string[] Entries() => Directory.GetFileSystemEntries(Path).Select(System.IO.Path.GetFileName).ToArray()!;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

internal static class Bytes
{
    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    public static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    public static byte[] U64(ulong v) => BitConverter.GetBytes(v); // tests run on little-endian hosts

    public static byte[] F32(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    public static byte[] F64(params double[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    public static byte[] I64(params long[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    /// <summary>A safetensors file: length prefix, the JSON header padded with spaces to a multiple of 8, the data.</summary>
    public static byte[] Safetensors(string json, byte[] data, bool pad = true)
    {
        var header = Utf8(json);
        int n = pad ? (header.Length + 7) / 8 * 8 : header.Length;
        var padded = new byte[n];
        header.CopyTo(padded, 0);
        padded.AsSpan(header.Length).Fill((byte)' ');
        return Concat(U64((ulong)n), padded, data);
    }

    /// <summary>A .npy file with the given version and header text, padded as numpy pads (to 64, ending in '\n').</summary>
    public static byte[] Npy(string dict, byte[] data, int major = 1, int align = 64)
    {
        int prefix = major == 1 ? 10 : 12;
        int hlen = dict.Length + 1;
        int pad = align - (prefix + hlen) % align;
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetBytes(dict + new string(' ', pad) + "\n");
        var len = major == 1 ? BitConverter.GetBytes((ushort)header.Length) : BitConverter.GetBytes((uint)header.Length);
        return Concat([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0], len, header, data);
    }
}

internal static class Expect
{
    /// <summary>Asserts a <see cref="CurvNativeFormatException"/> whose message contains every fragment.</summary>
    public static CurvNativeFormatException Format(Action act, string file, string? key, params string[] fragments)
    {
        var ex = Assert.Throws<CurvNativeFormatException>(act);
        Assert.Contains(file, ex.Message);
        Assert.Equal(file, ex.FilePath);
        if (key is not null)
        {
            Assert.Equal(key, ex.Key);
            Assert.Contains($"'{key}'", ex.Message);
        }
        foreach (var f in fragments) Assert.Contains(f, ex.Message);
        return ex;
    }
}
