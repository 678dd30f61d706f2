using System.Diagnostics;
using System.Text;
using CurvNative.Interop;
using CurvNative.Tensors;
using Xunit;
using Xunit.Sdk;

namespace CurvNative.Tests.Interop;

/// <summary>
/// Malformed-input fuzzing of both readers. The contract under test: whatever the bytes, a reader either
/// succeeds or throws <see cref="CurvNativeFormatException"/> naming the source, and returns quickly. All
/// randomness is seeded, so a failure message (case number and input bytes) reproduces.
/// </summary>
public sealed class FuzzTests
{
    private const string StName = "fuzz.safetensors";
    private const string NpyName = "fuzz.npy";
    // A hang detector, not a speed test: generous enough for a loaded CI machine.
    private static readonly TimeSpan PerCallLimit = TimeSpan.FromSeconds(30);

    private static byte[] ValidSafetensors() => new SafetensorsWriter()
        .Add("layer.0.weight", Tensor<float>.FromArray([1, -2, 3.5f, 4, 5, 6], 2, 3))
        .Add("layer.0.bias", Tensor<double>.FromArray([0.25, -1e-300], 2))
        .Add("scalar", Tensor<float>.Scalar(9f))
        .Add("empty", Tensor<double>.Zeros(0, 4))
        .Add("ids", new Int64Tensor([1, -1, long.MaxValue], 3))
        .AddMetadata("format", "pt")
        .ToArray();

    private static byte[] ValidNpy(int which)
    {
        var ms = new MemoryStream();
        switch (which)
        {
            case 0: Npy.Write(ms, Tensor<double>.FromArray([1, 2, 3, 4, 5, 6], 2, 3)); break;
            case 1: Npy.Write(ms, Tensor<float>.FromArray([1, 2, 3], 3)); break;
            case 2: Npy.WriteInt64(ms, new Int64Tensor([7], [])); break;
            default: return Bytes.Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }", Bytes.F32(1, 2), major: 2);
        }
        return ms.ToArray();
    }

    /// <summary>Reads with every accessor; true on success, false on a format error; anything else fails the test.</summary>
    private static bool TrySafetensors(byte[] input, string context)
    {
        return Run(input, context, StName, () =>
        {
            var f = SafetensorsFile.Read(new MemoryStream(input, writable: false), StName);
            foreach (var name in f.Names)
            {
                var info = f.GetInfo(name);
                Assert.True(info.ElementCount >= 0);
                Swallow(() => f.GetTensor<float>(name));
                Swallow(() => f.GetTensor<double>(name));
                Swallow(() => f.GetInt64(name));
            }
            Swallow(() => f.GetTensor<float>("no such tensor"));
            _ = f.Metadata.Count;
        });
    }

    private static bool TryNpy(byte[] input, string context)
    {
        bool any = false;
        any |= Run(input, context, NpyName, () => Npy.Read<float>(new MemoryStream(input, writable: false), NpyName));
        any |= Run(input, context, NpyName, () => Npy.Read<double>(new MemoryStream(input, writable: false), NpyName));
        any |= Run(input, context, NpyName, () => Npy.ReadInt64(new MemoryStream(input, writable: false), NpyName));
        Run(input, context, NpyName, () => Npy.ReadHeader(new MemoryStream(input, writable: false), NpyName));
        return any;
    }

    private static void Swallow(Action a)
    {
        try { a(); }
        catch (CurvNativeFormatException e) { Assert.Equal(StName, e.FilePath); }
    }

    private static bool Run(byte[] input, string context, string source, Action read)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            read();
            return true;
        }
        catch (CurvNativeFormatException e)
        {
            if (!e.Message.StartsWith(source, StringComparison.Ordinal) || e.FilePath != source)
                throw new XunitException($"{context}: message does not name the source: {e.Message}");
            return false;
        }
        catch (Exception e)
        {
            throw new XunitException($"{context}: {e.GetType().Name} instead of CurvNativeFormatException for input " +
                $"({input.Length} bytes) {Convert.ToHexString(input.AsSpan(0, Math.Min(input.Length, 400)))}\n{e}");
        }
        finally
        {
            if (sw.Elapsed > PerCallLimit)
                throw new XunitException($"{context}: a read took {sw.Elapsed.TotalMilliseconds:F0} ms");
        }
    }

    // ------------------------------------------------------------------ (a) truncations

    [Fact]
    public void Safetensors_EveryTruncationIsAFormatError()
    {
        var valid = ValidSafetensors();
        Assert.True(TrySafetensors(valid, "valid"));
        for (int n = 0; n < valid.Length; n++)
            Assert.False(TrySafetensors(valid[..n], $"truncated to {n}"), $"truncation to {n} bytes was accepted");
    }

    [Fact]
    public void Npy_EveryTruncationIsAFormatError()
    {
        for (int which = 0; which < 4; which++)
        {
            var valid = ValidNpy(which);
            Assert.True(TryNpy(valid, $"valid {which}"));
            for (int n = 0; n < valid.Length; n++)
                Assert.False(TryNpy(valid[..n], $"file {which} truncated to {n}"), $"file {which} truncated to {n} bytes was accepted");
        }
    }

    // ------------------------------------------------------------------ (b) byte flips and edits

    private static readonly byte[] Interesting = Encoding.ASCII.GetBytes("{}[]()\"',:-+.0123456789eE \n\\LTFNu")
        .Concat(new byte[] { 0, 0x7f, 0x80, 0xc3, 0xff, 0xed }).ToArray();

    internal static byte[] Mutate(byte[] valid, int headerEnd, Random r)
    {
        var list = valid.ToList();
        int edits = r.Next(1, 5);
        for (int e = 0; e < edits; e++)
        {
            int end = r.NextDouble() < 0.8 ? Math.Min(headerEnd, list.Count) : list.Count;
            if (end == 0) { list.Add((byte)r.Next(256)); continue; }
            int at = r.Next(end);
            switch (r.Next(10))
            {
                case < 4: list[at] = Interesting[r.Next(Interesting.Length)]; break;
                case < 6: list[at] ^= (byte)(1 << r.Next(8)); break;
                case < 7: list[at] = (byte)r.Next(256); break;
                case < 8: list.RemoveAt(at); break;
                case < 9: list.Insert(at, Interesting[r.Next(Interesting.Length)]); break;
                default: // duplicate a short run, which repeats keys, digits and brackets
                    int len = Math.Min(r.Next(1, 12), list.Count - at);
                    list.InsertRange(at, list.GetRange(at, len));
                    break;
            }
        }
        return list.ToArray();
    }

    [Fact]
    public void Safetensors_RandomEditsOnlyEverGiveFormatErrors()
    {
        var valid = ValidSafetensors();
        int headerEnd = 8 + (int)BitConverter.ToUInt64(valid, 0);
        var r = new Random(20240611);
        int accepted = 0;
        for (int i = 0; i < 4000; i++)
        {
            var input = Mutate(valid, headerEnd, r);
            if (TrySafetensors(input, $"safetensors edit case {i}")) accepted++;
        }
        Assert.InRange(accepted, 1, 3999); // some edits (data bytes, metadata text) keep the file valid, most do not
    }

    [Fact]
    public void Npy_RandomEditsOnlyEverGiveFormatErrors()
    {
        var r = new Random(777);
        int accepted = 0;
        for (int i = 0; i < 4000; i++)
        {
            var valid = ValidNpy(i % 4);
            int headerEnd = valid[6] == 1 ? 10 + BitConverter.ToUInt16(valid, 8) : 12 + (int)BitConverter.ToUInt32(valid, 8);
            var input = Mutate(valid, headerEnd, r);
            if (TryNpy(input, $"npy edit case {i}")) accepted++;
        }
        Assert.InRange(accepted, 1, 3999);
    }

    // ------------------------------------------------------------------ (b') structure-aware edits

    // Values spliced over tokens of a valid header, then re-wrapped with a correct length, to reach the
    // semantic checks (dtype, shape, offsets, sizes, coverage) rather than stopping at the JSON/Python syntax.
    private static readonly string[] JsonPool =
    [
        "0", "1", "-1", "2", "3", "4", "8", "12", "24", "2147483647", "2147483648", "4294967296", "9223372036854775807",
        "9223372036854775808", "18446744073709551616", "1e3", "1.5", "-0", "null", "true", "[]", "{}", "[0,0]", "[0]", "[1,2,3]",
        "\"F32\"", "\"F64\"", "\"I64\"", "\"BF16\"", "\"F4\"", "\"X\"", "\"__metadata__\"", "\"dtype\"", "\"shape\"",
        "\"data_offsets\"", "\"\\ud800\"", "\"\"", "[[1]]", "{\"a\":1}",
    ];

    private static readonly string[] PyPool =
    [
        "0", "1", "-1", "2", "3", "6", "2147483647", "2147483648", "99999999999999999999", "1.5", "True", "False", "None",
        "()", "(2,)", "(2, 3)", "(3, 2)", "(6,)", "(1, 6)", "(2)", "[2]", "'<f8'", "'<f4'", "'<i8'", "'>f8'", "'|f8'", "'<i4'", "'f8'",
        "'shape'", "'descr'", "'fortran_order'", "{}", "(((1)))", "''", "'\\'", "2L", "(0,)", "(0, 2147483647, 9)",
    ];

    private static string Splice(string text, string tokenPattern, string[] pool, Random r)
    {
        var tokens = System.Text.RegularExpressions.Regex.Matches(text, tokenPattern);
        int edits = r.Next(1, 4);
        for (int e = 0; e < edits && tokens.Count > 0; e++)
        {
            var t = tokens[r.Next(tokens.Count)];
            string replacement = r.Next(8) == 0 ? "" : pool[r.Next(pool.Length)];
            text = text[..t.Index] + replacement + text[(t.Index + t.Length)..];
            tokens = System.Text.RegularExpressions.Regex.Matches(text, tokenPattern);
        }
        return text;
    }

    private static byte[] Resize(byte[] data, Random r) => r.Next(4) switch
    {
        0 => data[..Math.Max(0, data.Length - r.Next(1, 17))],
        1 => Bytes.Concat(data, new byte[r.Next(1, 17)]),
        _ => data,
    };

    [Fact]
    public void Safetensors_StructuredHeaderEditsOnlyEverGiveFormatErrors()
    {
        var valid = ValidSafetensors();
        int n = (int)BitConverter.ToUInt64(valid, 0);
        string json = Encoding.UTF8.GetString(valid, 8, n).TrimEnd();
        byte[] data = valid[(8 + n)..];
        var r = new Random(99);
        int accepted = 0;
        for (int i = 0; i < 4000; i++)
        {
            string edited = Splice(json, "-?[0-9]+|\"[^\"]*\"|\\[[^\\[\\]]*\\]", JsonPool, r);
            if (TrySafetensors(Bytes.Safetensors(edited, Resize(data, r), pad: r.Next(2) == 0), $"safetensors splice case {i}: {edited}")) accepted++;
        }
        Assert.InRange(accepted, 1, 3999);
    }

    [Fact]
    public void Npy_StructuredHeaderEditsOnlyEverGiveFormatErrors()
    {
        const string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
        byte[] data = Bytes.F64(1, 2, 3, 4, 5, 6);
        var r = new Random(123);
        int accepted = 0;
        for (int i = 0; i < 4000; i++)
        {
            string edited = Splice(dict, "-?[0-9]+|'[^']*'|True|False|\\([^()]*\\)", PyPool, r);
            if (TryNpy(Bytes.Npy(edited, Resize(data, r), major: r.Next(1, 4)), $"npy splice case {i}: {edited}")) accepted++;
        }
        Assert.InRange(accepted, 1, 3999);
    }

    // ------------------------------------------------------------------ (c) random bytes

    [Fact]
    public void Safetensors_RandomBytesOnlyEverGiveFormatErrors()
    {
        var r = new Random(31337);
        byte[] jsonAlphabet = Encoding.ASCII.GetBytes("{}[]\":,-0123456789.eE dtypeshapedata_offsetsF32F64I64BF16__metadata__\\u");
        for (int i = 0; i < 3000; i++)
        {
            byte[] input;
            if (i % 2 == 0)
            {
                input = new byte[r.Next(0, 300)];
                r.NextBytes(input);
            }
            else
            {
                // a plausible length prefix followed by JSON-ish noise, to get past the first checks
                var body = new byte[r.Next(0, 300)];
                for (int k = 0; k < body.Length; k++) body[k] = jsonAlphabet[r.Next(jsonAlphabet.Length)];
                if (body.Length > 0) body[0] = (byte)'{';
                ulong n = (ulong)r.Next(0, body.Length + 2);
                input = Bytes.Concat(Bytes.U64(n), body);
            }
            TrySafetensors(input, $"safetensors random case {i}");
        }
    }

    [Fact]
    public void Npy_RandomBytesOnlyEverGiveFormatErrors()
    {
        var r = new Random(4242);
        byte[] pyAlphabet = Encoding.ASCII.GetBytes("{}[]()'\":, -0123456789.LTrueFalseNonedescrfortran_ordershape<f8|i4>");
        for (int i = 0; i < 3000; i++)
        {
            byte[] input;
            if (i % 2 == 0)
            {
                input = new byte[r.Next(0, 300)];
                r.NextBytes(input);
            }
            else
            {
                var body = new byte[r.Next(0, 300)];
                for (int k = 0; k < body.Length; k++) body[k] = pyAlphabet[r.Next(pyAlphabet.Length)];
                if (body.Length > 0) body[0] = (byte)'{';
                int major = r.Next(1, 4);
                int len = r.Next(0, body.Length + 2);
                var prefix = major == 1 ? BitConverter.GetBytes((ushort)len) : BitConverter.GetBytes((uint)len);
                input = Bytes.Concat([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0], prefix, body);
            }
            TryNpy(input, $"npy random case {i}");
        }
    }

    [Fact]
    public void Readers_HandleHostileButWellFormedHeadersFast()
    {
        // Deep nesting, huge numbers, many keys: bounded work, format errors or success only.
        string deepJson = "{\"a\":" + new string('[', 5000) + new string(']', 5000) + "}";
        Assert.False(TrySafetensors(Bytes.Safetensors(deepJson, []), "deep json"));
        var many = new StringBuilder("{");
        for (int i = 0; i < 20_000; i++) many.Append($"\"t{i}\":{{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}},");
        many.Length--;
        many.Append('}');
        Assert.True(TrySafetensors(Bytes.Safetensors(many.ToString(), []), "many empty tensors"));
        Assert.False(TrySafetensors(Bytes.Safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[" + new string('9', 100_000) + "],\"data_offsets\":[0,0]}}", []), "huge number"));

        string deepPy = "{'descr': '<f8', 'fortran_order': False, 'shape': " + new string('(', 60_000) + new string(')', 60_000) + "}";
        Assert.False(TryNpy(Bytes.Npy(deepPy, [], major: 2), "deep python"));
        string longTuple = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + string.Concat(Enumerable.Repeat("1, ", 100_000)) + "), }";
        Assert.True(TryNpy(Bytes.Npy(longTuple, Bytes.F64(1), major: 2), "rank 100000"));
        string hugeInt = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + new string('7', 200_000) + ",), }";
        Assert.False(TryNpy(Bytes.Npy(hugeInt, [], major: 2), "huge int"));
    }
}
