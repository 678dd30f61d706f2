using System.Text;
using CurvNative.Interop;
using CurvNative.Tensors;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace CurvNative.Tests.Interop;

public sealed class SafetensorsTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Save(byte[] bytes, string name = "model.safetensors")
    {
        string path = _dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static float[] Floats(int n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
    }

    // ------------------------------------------------------------------ round trips

    public static TheoryData<int[]> Shapes => new()
    {
        Array.Empty<int>(), new[] { 0 }, new[] { 1 }, new[] { 5 }, new[] { 2, 3 }, new[] { 2, 0, 4 }, new[] { 3, 1, 4, 2 }, new[] { 0, 0 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void RoundTrip_AllDtypes(int[] shape)
    {
        int n = Shape.Size(shape);
        var f = Tensor<float>.FromArray(Floats(n, 1), shape);
        var d = Tensor<double>.FromArray(Floats(n, 2).Select(x => (double)x * Math.PI).ToArray(), shape);
        var l = new Int64Tensor(Enumerable.Range(0, n).Select(i => (long)i * 3_000_000_000L - 7).ToArray(), shape);
        string path = _dir.File("rt.safetensors");
        SafetensorsFile.Write(path, new Dictionary<string, object> { ["f"] = f, ["d"] = d, ["l"] = l },
            new Dictionary<string, string> { ["format"] = "pt", ["note"] = "héllo \"quoted\"\n" });

        var file = SafetensorsFile.Read(path);
        Assert.Equal(3, file.Count);
        if (n > 0) Assert.Equal(["l", "d", "f"], file.Names); // I64, F64, F32: descending alignment, as the reference writer orders them
        else Assert.Equal(["d", "f", "l"], file.Names); // all empty at offset 0: by name
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("héllo \"quoted\"\n", file.Metadata["note"]);
        Assert.Equal("F32", file.GetInfo("f").DType);
        Assert.Equal("F64", file.GetInfo("d").DType);
        Assert.Equal("I64", file.GetInfo("l").DType);
        Assert.Equal(shape, file.GetInfo("f").ShapeArray);
        Assert.Equal(n, file.GetInfo("d").ElementCount);

        var f2 = file.GetTensor<float>("f");
        Assert.Equal(shape, f2.ShapeArray);
        Assert.Equal(f.ToArray(), f2.ToArray());
        Assert.Equal(d.ToArray(), file.GetTensor<double>("d").ToArray());
        var l2 = file.GetInt64("l");
        Assert.Equal(shape, l2.ShapeArray);
        Assert.Equal(l.Data, l2.Data);

        // the other float width converts
        Assert.Equal(f.ToArray().Select(x => (double)x), file.GetTensor<double>("f").ToArray());
        Assert.Equal(d.ToArray().Select(x => (float)x), file.GetTensor<float>("d").ToArray());
        Assert.Equal(shape, file.GetTensor<double>("f").ShapeArray);
    }

    [Fact]
    public void RoundTrip_LargeTensor()
    {
        var big = Tensor<float>.FromArray(Floats(512 * 1024, 3), 512, 1024); // 2 MB
        var bigD = Tensor<double>.FromArray(Floats(300_001, 4).Select(x => (double)x).ToArray(), 300_001);
        string path = _dir.File("big.safetensors");
        new SafetensorsWriter().Add("w", big).Add("v", bigD).Write(path);
        var file = SafetensorsFile.Read(path);
        Assert.Equal(big.ToArray(), file.GetTensor<float>("w").ToArray());
        Assert.Equal(bigD.ToArray(), file.GetTensor<double>("v").ToArray());
        long headerLen = BitConverter.ToInt64(File.ReadAllBytes(path).AsSpan(0, 8));
        Assert.Equal(0, headerLen % 8);
        Assert.Equal(8 + headerLen + 512 * 1024 * 4 + 300_001 * 8, new FileInfo(path).Length);
    }

    [Fact]
    public void RoundTrip_PreservesSpecialValuesBitExactly()
    {
        float[] fs = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0.0f, float.Epsilon, float.MaxValue, BitConverter.Int32BitsToSingle(0x7fc00123)];
        double[] ds = [double.NaN, double.NegativeInfinity, -0.0, double.Epsilon, BitConverter.Int64BitsToDouble(0x7ff8000000000abcL)];
        long[] ls = [long.MinValue, long.MaxValue, 0, -1];
        var bytes = new SafetensorsWriter()
            .Add("f", Tensor<float>.FromArray(fs, fs.Length))
            .Add("d", Tensor<double>.FromArray(ds, ds.Length))
            .Add("l", new Int64Tensor(ls, 2, 2))
            .ToArray();
        var file = SafetensorsFile.Read(new MemoryStream(bytes), "mem");
        Assert.Equal(fs.Select(BitConverter.SingleToInt32Bits), file.GetTensor<float>("f").ToArray().Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(ds.Select(BitConverter.DoubleToInt64Bits), file.GetTensor<double>("d").ToArray().Select(BitConverter.DoubleToInt64Bits));
        Assert.Equal(ls, file.GetInt64("l").Data);
    }

    [Fact]
    public void RoundTrip_Property_RandomShapesAndValues()
    {
        var dims = Gen.Choose(0, 4);
        var shapes = Gen.Choose(0, 4).SelectMany(rank => Gen.ArrayOf(dims, rank));
        var cases = shapes.SelectMany(shape => Gen.Choose(int.MinValue, int.MaxValue).Select(seed => (shape, seed)));
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var (shape, seed) = c;
            int n = Shape.Size(shape);
            var r = new Random(seed);
            var f = Tensor<float>.FromArray(Enumerable.Range(0, n).Select(_ => BitConverter.Int32BitsToSingle(r.Next())).ToArray(), shape);
            var d = Tensor<double>.FromArray(Enumerable.Range(0, n).Select(_ => BitConverter.Int64BitsToDouble(r.NextInt64())).ToArray(), shape);
            var l = new Int64Tensor(Enumerable.Range(0, n).Select(_ => r.NextInt64(long.MinValue, long.MaxValue)).ToArray(), shape);
            var bytes = new SafetensorsWriter().Add("a.weight", f).Add("b", d).Add("c", l).AddMetadata("seed", seed.ToString()).ToArray();
            var file = SafetensorsFile.Read(new MemoryStream(bytes), "prop");
            return file.GetTensor<float>("a.weight").ToArray().Select(BitConverter.SingleToInt32Bits).SequenceEqual(f.ToArray().Select(BitConverter.SingleToInt32Bits))
                && file.GetTensor<double>("b").ToArray().Select(BitConverter.DoubleToInt64Bits).SequenceEqual(d.ToArray().Select(BitConverter.DoubleToInt64Bits))
                && file.GetInt64("c").Data.SequenceEqual(l.Data)
                && file.GetInfo("c").ShapeArray.SequenceEqual(shape)
                && file.Metadata["seed"] == seed.ToString()
                && BitConverter.ToUInt64(bytes, 0) % 8 == 0;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void RoundTrip_EmptyFileAndUnicodeNames()
    {
        var file = SafetensorsFile.Read(new MemoryStream(new SafetensorsWriter().ToArray()), "empty");
        Assert.Empty(file.Names);
        Assert.Empty(file.Metadata);

        string name = "层.权重/😀 \"q\"\t";
        var bytes = new SafetensorsWriter().Add(name, Tensor<float>.Scalar(2.5f)).ToArray();
        file = SafetensorsFile.Read(new MemoryStream(bytes), "unicode");
        Assert.Equal([name], file.Names);
        Assert.Equal(2.5f, file.GetTensor<float>(name).ToScalar());
        Assert.Empty(file.GetInfo(name).Shape);
    }

    // ------------------------------------------------------------------ byte-exact format

    [Fact]
    public void Writer_MatchesReferenceBytes()
    {
        // Header and data as the reference Rust writer produces them (safetensors test_serialization_forced_alignement).
        const string json = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}";
        Assert.Equal(65, json.Length);
        var expected = Bytes.Concat(Bytes.U64(72), Bytes.Ascii(json), Bytes.Ascii("       "), Bytes.F32(0, 1, 2, 3, 4, 5));
        var t = Tensor<float>.FromArray([0, 1, 2, 3, 4, 5], 1, 1, 2, 3);
        Assert.Equal(expected, new SafetensorsWriter().Add("attn0", t).ToArray());

        // An empty file, and one with only metadata (test_empty).
        Assert.Equal(Bytes.Concat(Bytes.U64(8), Bytes.Ascii("{}      ")), new SafetensorsWriter().ToArray());
        Assert.Equal(Bytes.Concat(Bytes.U64(40), Bytes.Ascii("{\"__metadata__\":{\"framework\":\"pt\"}}     ")),
            new SafetensorsWriter().AddMetadata("framework", "pt").ToArray());
    }

    [Fact]
    public void Reader_AcceptsHandCraftedFile()
    {
        // Unsorted keys, whitespace, unpadded header, metadata last, an unknown extra field, a BF16 tensor.
        string json = """
            { "b": {"shape": [2], "dtype": "I64", "data_offsets": [12, 28], "extra": {"x": [1]}},
              "a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
              "h": {"dtype": "BF16", "shape": [2], "data_offsets": [28, 32]},
              "s": {"dtype": "F64", "shape": [], "data_offsets": [32, 40]},
              "__metadata__": {"k": "v"} }
            """;
        var bytes = Bytes.Safetensors(json, Bytes.Concat(Bytes.F32(1, 2, 3), Bytes.I64(-5, 1L << 40), [0, 0, 0x80, 0x3f], Bytes.F64(-2.25)), pad: false);
        var file = SafetensorsFile.Read(Save(bytes));
        Assert.Equal(["a", "b", "h", "s"], file.Names);
        Assert.Equal([1f, 2f, 3f], file.GetTensor<float>("a").ToArray());
        Assert.Equal([-5L, 1L << 40], file.GetInt64("b").Data);
        Assert.Equal(-2.25, file.GetTensor<double>("s").ToScalar());
        Assert.Equal("v", file.Metadata["k"]);
        var h = file.GetInfo("h");
        Assert.Equal("BF16", h.DType);
        Assert.False(h.IsSupported);
        Assert.Equal([2], h.ShapeArray);
        Assert.Equal((28L, 32L), (h.DataBegin, h.DataEnd));
    }

    // ------------------------------------------------------------------ validation

    private const string Ok = "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]";

    private void Bad(byte[] bytes, string? key, params string[] fragments)
    {
        string path = Save(bytes, "bad.safetensors");
        Expect.Format(() => SafetensorsFile.Read(path), path, key, fragments);
    }

    private void BadHeader(string json, byte[] data, string? key, params string[] fragments) =>
        Bad(Bytes.Safetensors(json, data), key, fragments);

    [Fact]
    public void Rejects_FileShorterThan8Bytes()
    {
        Bad([], null, "0 bytes", "at least 8");
        Bad([1, 2, 3], null, "3 bytes", "at least 8");
        Bad(new byte[7], null, "7 bytes");
    }

    [Fact]
    public void Rejects_HeaderLengthPastEndOfFile()
    {
        Bad(Bytes.Concat(Bytes.U64(100), Bytes.Ascii("{}")), null, "100 bytes", "only 2 bytes follow");
        Bad(Bytes.U64(1), null, "1 bytes", "only 0 bytes follow");
    }

    [Fact]
    public void Rejects_AbsurdHeaderLength()
    {
        Bad(Bytes.Concat(Bytes.U64(200_000_000), Bytes.Ascii("{}")), null, "200000000", "at most 100000000");
        Bad(Bytes.Concat(Bytes.U64(ulong.MaxValue), Bytes.Ascii("{}")), null, ulong.MaxValue.ToString(), "at most");
        Bad(Bytes.Concat(Bytes.U64(1UL << 63), Bytes.Ascii("{}")), null, "at most");
    }

    [Fact]
    public void Rejects_InvalidJsonAndNonObjects()
    {
        BadHeader("{\"a\": ", [], null, "not valid JSON");
        BadHeader("{\"a\": {}} trailing", [], null, "not valid JSON");
        BadHeader("[1, 2]", [], null, "JSON array", "expected a JSON object");
        BadHeader("\"str\"", [], null, "JSON string");
        BadHeader("null", [], null, "JSON null");
        BadHeader("{\"a\": 5}", [], "a", "JSON number", "expected an object");
        Bad(Bytes.Concat(Bytes.U64(0)), null, "header is empty");
        Bad(Bytes.Concat(Bytes.U64(8), [(byte)'{', 0xff, 0xfe, (byte)'}', 32, 32, 32, 32]), null, "not valid UTF-8");
        BadHeader(new string('[', 100) + new string(']', 100), [], null, "not valid JSON");
    }

    [Fact]
    public void Rejects_MissingFields()
    {
        BadHeader("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8], "w", "missing field \"dtype\"");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", new byte[8], "w", "missing field \"shape\"");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", new byte[8], "w", "missing field \"data_offsets\"");
        BadHeader("{\"w\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8], "w", "\"dtype\" is a JSON number");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", new byte[8], "w", "\"shape\" is a JSON number");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", new byte[8], "w", "\"data_offsets\"", "[begin, end]");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{\"a\":1}}}", new byte[8], "w", "[begin, end]");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8], "w", "\"dtype\" appears twice");
    }

    [Fact]
    public void Rejects_BadShapeEntries()
    {
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,8]}}", new byte[8], "w", "shape entry 1 is -3", "non-negative integer");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", new byte[8], "w", "shape entry 0 is '2.5'");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", new byte[8], "w", "shape entry 0 is '2.0'");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[1e1],\"data_offsets\":[0,8]}}", new byte[8], "w", "shape entry 0");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", new byte[8], "w", "shape entry 0 is a JSON string");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[3000000000],\"data_offsets\":[0,8]}}", new byte[8], "w", "3000000000", "at most 2147483647");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999999],\"data_offsets\":[0,8]}}", new byte[8], "w", "shape entry 0");
    }

    [Fact]
    public void Rejects_ShapeSizeOverflow()
    {
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", new byte[8], "w", "size overflow");
        BadHeader("{\"w\":{\"dtype\":\"F64\",\"shape\":[65536,65536],\"data_offsets\":[0,8]}}", new byte[8], "w", "exceeds 2147483647");
        // CurvNative tensors check running products (Shape.Size), so a zero after an overflowing prefix is rejected too
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,0],\"data_offsets\":[0,0]}}", [], "w", "size overflow");
        var file = SafetensorsFile.Read(new MemoryStream(Bytes.Safetensors(
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[0,2147483647,2147483647],\"data_offsets\":[0,0]}}", [])), "zero");
        Assert.Equal(0, file.GetTensor<float>("w").Length);
    }

    [Fact]
    public void Rejects_OffsetsNotMatchingSize()
    {
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", new byte[4], "w", "span 4 bytes", "expected 8 bytes", "[2]", "F32");
        BadHeader("{\"w\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8], "w", "expected 16 bytes");
        BadHeader("{\"w\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", new byte[2], "w", "not a whole number of bytes");
    }

    [Fact]
    public void Rejects_OffsetsOutOfRange()
    {
        BadHeader("{\"w\":{" + Ok + "}}", new byte[4], "w", "[0, 8]", "past the end of the data section", "4 bytes");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", new byte[8], "w", "end before they begin");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", new byte[8], "w", "data_offsets entry 0");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551615]}}", new byte[8], "w", "data_offsets entry 1");
        BadHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", new byte[8], "w", "data_offsets entry 1");
    }

    [Fact]
    public void Rejects_OverlapsGapsAndTrailingBytes()
    {
        var data = new byte[12];
        BadHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
            data, "b", "overlap tensor 'a'");
        BadHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
            new byte[8], "b", "overlap tensor 'a'");
        BadHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
            data, "b", "gap of 4 bytes", "'a'");
        BadHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8], "a", "[0, 4)", "unused");
        BadHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[12], null, "12 bytes", "cover only 4", "8 trailing bytes");
        BadHeader("{}", new byte[3], null, "3 trailing bytes");
    }

    [Fact]
    public void Rejects_UnknownDtypeAndDuplicates()
    {
        BadHeader("{\"w\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8], "w", "unknown dtype 'Q7'", "F32, F64 or I64");
        BadHeader("{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8], "w", "unknown dtype 'f32'");
        BadHeader("{\"w\":{" + Ok + "},\"w\":{" + Ok + "}}", new byte[8], "w", "twice");
        BadHeader("{\"__metadata__\":{\"a\":1}}", [], "__metadata__", "entry 'a'", "expected a string");
        BadHeader("{\"__metadata__\":[\"a\"]}", [], "__metadata__", "JSON array");
        BadHeader("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", [], "__metadata__", "twice");
        BadHeader("{\"\\ud800\":{" + Ok + "}}", new byte[8], null, "not a valid string");
    }

    [Fact]
    public void Accessors_ReportMissingKeysAndWrongDtypes()
    {
        var json = "{\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[4,12]},"
                 + "\"h\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[12,16]}}";
        string path = Save(Bytes.Safetensors(json, new byte[16]), "acc.safetensors");
        var file = SafetensorsFile.Read(path);
        Expect.Format(() => file.GetTensor<float>("nope"), path, "nope", "no tensor with this name", "'f'", "'i'", "'h'");
        Expect.Format(() => file.GetInfo("nope"), path, "nope", "no tensor");
        Expect.Format(() => file.GetInt64("__metadata__"), path, "__metadata__", "no tensor");
        Expect.Format(() => file.GetTensor<float>("i"), path, "i", "I64", "GetInt64");
        Expect.Format(() => file.GetTensor<double>("i"), path, "i", "I64");
        Expect.Format(() => file.GetInt64("f"), path, "f", "dtype is F32", "expected I64", "GetTensor");
        Expect.Format(() => file.GetTensor<float>("h"), path, "h", "BF16", "not supported");
        Expect.Format(() => file.GetInt64("h"), path, "h", "BF16");
        Assert.True(file.Contains("h"));
        Assert.False(file.Contains("nope"));
    }

    [Fact]
    public void Writer_RejectsBadArguments()
    {
        var t = Tensor<float>.Zeros(1);
        Assert.Throws<ArgumentException>(() => new SafetensorsWriter().Add("__metadata__", t));
        Assert.Throws<ArgumentException>(() => new SafetensorsWriter().Add("a", t).Add("a", Tensor<double>.Zeros(1)));
        Assert.Throws<ArgumentException>(() => new SafetensorsWriter().Add("bad\ud800", t));
        Assert.Throws<ArgumentException>(() => new SafetensorsWriter().AddMetadata("k", "v").AddMetadata("k", "w"));
        var ex = Assert.Throws<ArgumentException>(() => SafetensorsFile.Write(_dir.File("x.safetensors"), new Dictionary<string, object> { ["s"] = "text" }));
        Assert.Contains("'s'", ex.Message);
        Assert.Contains("String", ex.Message);
        Assert.Empty(_dir.Entries());
    }

    [Fact]
    public void Write_OverwritesAtomicallyAndLeavesNoTempFiles()
    {
        string path = _dir.File("w.safetensors");
        SafetensorsFile.Write(path, new Dictionary<string, object> { ["a"] = Tensor<float>.Full(1f, 3) });
        SafetensorsFile.Write(path, new Dictionary<string, object> { ["b"] = Tensor<double>.Full(2.0, 2) });
        Assert.Equal(["w.safetensors"], _dir.Entries());
        var file = SafetensorsFile.Read(path);
        Assert.Equal(["b"], file.Names);
    }

    [Fact]
    public void Write_ToMissingDirectory_FailsClearlyAndLeavesNothing()
    {
        string missing = Path.Combine(_dir.Path, "no-such-dir");
        string path = Path.Combine(missing, "m.safetensors");
        var ex = Assert.Throws<DirectoryNotFoundException>(() =>
            SafetensorsFile.Write(path, new Dictionary<string, object> { ["a"] = Tensor<float>.Zeros(2) }));
        Assert.Contains(path, ex.Message);
        Assert.Contains("does not exist", ex.Message);
        Assert.False(Directory.Exists(missing));
        Assert.Empty(_dir.Entries());
    }

    [Fact]
    public void Write_OverADirectory_FailsAndLeavesNoTempFiles()
    {
        string blocked = _dir.File("blocked.safetensors");
        Directory.CreateDirectory(blocked);
        var ex = Assert.ThrowsAny<IOException>(() => SafetensorsFile.Write(blocked, new Dictionary<string, object> { ["a"] = Tensor<float>.Zeros(2) }));
        Assert.Contains(blocked, ex.Message);
        Assert.Equal(["blocked.safetensors"], _dir.Entries());
    }
}
