using System.Text;
using CurvNative.Interop;
using CurvNative.Tensors;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace CurvNative.Tests.Interop;

public sealed class NpyTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Save(byte[] bytes, string name = "array.npy")
    {
        string path = _dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] ToBytes<T>(Tensor<T> t) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var ms = new MemoryStream();
        Npy.Write(ms, t);
        return ms.ToArray();
    }

    // ------------------------------------------------------------------ byte-exact format

    [Fact]
    public void Write_MatchesNumpySaveByteForByte()
    {
        // np.save(f, np.arange(6, dtype='<f8').reshape(2, 3)) with numpy >= 1.24: the dict, 20 spaces numpy reserves
        // for growing axis 0 (21 - len('2')), alignment spaces, '\n'; data starts at byte 128.
        const string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
        string header = dict + new string(' ', 20);
        header += new string(' ', 128 - 10 - header.Length - 1) + "\n";
        var expected = Bytes.Concat([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 118, 0],
            Bytes.Ascii(header), Bytes.F64(0, 1, 2, 3, 4, 5));
        Assert.Equal(128 + 48, expected.Length);

        var t = Tensor<double>.FromArray([0, 1, 2, 3, 4, 5], 2, 3);
        Assert.Equal(expected, ToBytes(t));

        string path = Save(expected, "numpy.npy");
        var back = Npy.Read<double>(path);
        Assert.Equal([2, 3], back.ShapeArray);
        Assert.Equal(t.ToArray(), back.ToArray());
        var h = Npy.ReadHeader(path);
        Assert.Equal((1, 0, "<f8", false, 128L, 6L), (h.MajorVersion, h.MinorVersion, h.Descr, h.FortranOrder, h.DataOffset, h.ElementCount));
    }

    [Fact]
    public void Write_HeaderShapesAsPythonReprs()
    {
        static string Header(byte[] b) => Encoding.ASCII.GetString(b, 10, BitConverter.ToUInt16(b, 8));
        var scalar = ToBytes(Tensor<float>.Scalar(1.5f));
        Assert.StartsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", Header(scalar));
        Assert.EndsWith(" \n", Header(scalar));
        var vec = ToBytes(Tensor<float>.Zeros(5));
        Assert.StartsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }" + new string(' ', 20), Header(vec));
        var empty = ToBytes(Tensor<double>.Zeros(0, 3));
        Assert.StartsWith("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 3), }", Header(empty));
        Assert.Equal(128, empty.Length);
        var ms = new MemoryStream();
        Npy.WriteInt64(ms, new Int64Tensor([1, 2], 2, 1));
        Assert.StartsWith("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 1), }", Header(ms.ToArray()));
        foreach (var b in new[] { scalar, vec, empty, ms.ToArray() })
            Assert.Equal(0, (10 + BitConverter.ToUInt16(b, 8)) % 64);
    }

    [Fact]
    public void Read_OlderAndOtherValidHeaders()
    {
        // numpy < 1.14 aligned to 16 bytes and had no growth padding; Python 2 wrote 'L' suffixes.
        var v1old = Bytes.Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", Bytes.F32(1, 2, 3), align: 16);
        Assert.Equal([1f, 2f, 3f], Npy.Read<float>(new MemoryStream(v1old), "old.npy").ToArray());
        var py2 = Bytes.Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 1L), }", Bytes.F64(1, 2));
        Assert.Equal([2, 1], Npy.Read<double>(new MemoryStream(py2), "py2.npy").ShapeArray);
        // keys in any order, double quotes, no trailing comma, odd whitespace, '|' and '=' byte-order marks
        var odd = Bytes.Npy("{ \"shape\" : ( 2 , ) ,\n 'fortran_order':False,'descr':'|f8'}", Bytes.F64(7, 8));
        Assert.Equal([7.0, 8.0], Npy.Read<double>(new MemoryStream(odd), "odd.npy").ToArray());
        var native = Bytes.Npy("{'descr': '=i8', 'fortran_order': False, 'shape': (), }", Bytes.I64(-9));
        Assert.Equal([-9L], Npy.ReadInt64(new MemoryStream(native), "native.npy").Data);
        // version 2.0 (u32 header length) and 3.0 (UTF-8 header)
        var v2 = Bytes.Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", Bytes.I64(5, -6), major: 2);
        var r2 = Npy.ReadInt64(new MemoryStream(v2), "v2.npy");
        Assert.Equal([5L, -6L], r2.Data);
        Assert.Equal(0, (v2.Length - 16) % 64);
        var v3 = Bytes.Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", Bytes.F32(4), major: 3);
        Assert.Equal([4f], Npy.Read<float>(new MemoryStream(v3), "v3.npy").ToArray());
        // fortran_order True is harmless when at most one axis is longer than 1
        var f1 = Bytes.Npy("{'descr': '<f8', 'fortran_order': True, 'shape': (1, 3, 1), }", Bytes.F64(1, 2, 3));
        Assert.Equal([1.0, 2.0, 3.0], Npy.Read<double>(new MemoryStream(f1), "f1.npy").ToArray());
    }

    // ------------------------------------------------------------------ round trips

    public static TheoryData<int[]> Shapes => new()
    {
        Array.Empty<int>(), new[] { 0 }, new[] { 1 }, new[] { 5 }, new[] { 2, 3 }, new[] { 2, 0, 4 }, new[] { 3, 1, 4, 2 }, new[] { 1, 1, 1, 1, 1, 1, 1 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void RoundTrip_AllDtypes(int[] shape)
    {
        int n = Shape.Size(shape);
        var r = new Random(n);
        var f = Tensor<float>.FromArray(Enumerable.Range(0, n).Select(_ => (float)r.NextDouble()).ToArray(), shape);
        var d = Tensor<double>.FromArray(Enumerable.Range(0, n).Select(_ => r.NextDouble() * 1e300).ToArray(), shape);
        var l = new Int64Tensor(Enumerable.Range(0, n).Select(_ => r.NextInt64(long.MinValue, long.MaxValue)).ToArray(), shape);
        string pf = _dir.File("f.npy"), pd = _dir.File("d.npy"), pl = _dir.File("l.npy");
        Npy.Write(pf, f);
        Npy.Write(pd, d);
        Npy.WriteInt64(pl, l);

        var f2 = Npy.Read<float>(pf);
        Assert.Equal(shape, f2.ShapeArray);
        Assert.Equal(f.ToArray(), f2.ToArray());
        Assert.Equal(d.ToArray(), Npy.Read<double>(pd).ToArray());
        Assert.Equal(shape, Npy.Read<double>(pd).ShapeArray);
        var l2 = Npy.ReadInt64(pl);
        Assert.Equal(shape, l2.ShapeArray);
        Assert.Equal(l.Data, l2.Data);
        Assert.Equal(f.ToArray().Select(x => (double)x), Npy.Read<double>(pf).ToArray());
        Assert.Equal(d.ToArray().Select(x => (float)x), Npy.Read<float>(pd).ToArray());
        Assert.Equal(["d.npy", "f.npy", "l.npy"], _dir.Entries().Order());
    }

    [Fact]
    public void RoundTrip_LargeArray()
    {
        var r = new Random(5);
        var t = Tensor<float>.FromArray(Enumerable.Range(0, 1 << 20).Select(_ => (float)r.NextDouble()).ToArray(), 1024, 1024);
        string path = _dir.File("big.npy");
        Npy.Write(path, t);
        Assert.Equal(128 + 4L * (1 << 20), new FileInfo(path).Length);
        Assert.Equal(t.ToArray(), Npy.Read<float>(path).ToArray());
    }

    [Fact]
    public void RoundTrip_Property_RandomShapesAndBits()
    {
        var shapes = Gen.Choose(0, 5).SelectMany(rank => Gen.ArrayOf(Gen.Choose(0, 6), rank));
        var cases = shapes.SelectMany(shape => Gen.Choose(int.MinValue, int.MaxValue).Select(seed => (shape, seed)));
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var (shape, seed) = c;
            int n = Shape.Size(shape);
            var r = new Random(seed);
            var f = Tensor<float>.FromArray(Enumerable.Range(0, n).Select(_ => BitConverter.Int32BitsToSingle(r.Next())).ToArray(), shape);
            var d = Tensor<double>.FromArray(Enumerable.Range(0, n).Select(_ => BitConverter.Int64BitsToDouble(r.NextInt64())).ToArray(), shape);
            var fb = ToBytes(f);
            var db = ToBytes(d);
            var f2 = Npy.Read<float>(new MemoryStream(fb), "p");
            var d2 = Npy.Read<double>(new MemoryStream(db), "p");
            return f2.ShapeArray.SequenceEqual(shape) && d2.ShapeArray.SequenceEqual(shape)
                && f2.ToArray().Select(BitConverter.SingleToInt32Bits).SequenceEqual(f.ToArray().Select(BitConverter.SingleToInt32Bits))
                && d2.ToArray().Select(BitConverter.DoubleToInt64Bits).SequenceEqual(d.ToArray().Select(BitConverter.DoubleToInt64Bits))
                && (fb.Length - 4 * n) % 64 == 0 && (db.Length - 8 * n) % 64 == 0;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Write_HugeRank_FallsBackToVersion2()
    {
        var shape = Enumerable.Repeat(1, 30_000).ToArray();
        var bytes = ToBytes(Tensor<float>.FromArray([3f], shape));
        Assert.Equal(2, bytes[6]);
        Assert.Equal(0L, (12L + BitConverter.ToUInt32(bytes, 8)) % 64);
        var back = Npy.Read<float>(new MemoryStream(bytes), "rank");
        Assert.Equal(30_000, back.Rank);
        Assert.Equal(3f, back.ToScalar());
    }

    // ------------------------------------------------------------------ validation

    private const string F8x2 = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";

    private void Bad(byte[] bytes, string? key, params string[] fragments)
    {
        string path = Save(bytes, "bad.npy");
        Expect.Format(() => Npy.Read<double>(path), path, key, fragments);
    }

    private void BadDict(string dict, string? key, params string[] fragments) => Bad(Bytes.Npy(dict, Bytes.F64(1, 2)), key, fragments);

    [Fact]
    public void Rejects_BadMagicAndShortFiles()
    {
        Bad(Bytes.Ascii("PK\x03\x04 this is a zip"), null, "magic", "not a .npy file");
        Bad(Bytes.Concat([0x93], Bytes.Ascii("NUMPZ\x01\x00")), null, "magic");
        Bad([], null, "0 bytes", "at least 10");
        Bad([0x93, (byte)'N', (byte)'U'], null, "3 bytes", "at least 10");
        Bad([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 10], null, "9 bytes");
        Bad([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 2, 0, 10, 0, 0], null, "11 bytes", "at least 12");
    }

    [Fact]
    public void Rejects_UnsupportedVersion()
    {
        var b = Bytes.Npy(F8x2, Bytes.F64(1, 2));
        b[6] = 4;
        Bad(b, null, "version is 4.0", "expected 1.0, 2.0 or 3.0");
        b[6] = 1; b[7] = 1;
        Bad(b, null, "version is 1.1");
    }

    [Fact]
    public void Rejects_HeaderLengthPastEndOrAbsurd()
    {
        var b = Bytes.Npy(F8x2, []);
        b[8] = 0xff; b[9] = 0xff;
        Bad(b, null, "65535 bytes", "only 118 bytes follow");
        var v2 = Bytes.Npy(F8x2, Bytes.F64(1, 2), major: 2);
        BitConverter.GetBytes(0xfffffff0u).CopyTo(v2, 8);
        Bad(v2, null, "4294967280 bytes", "at most 1048576");
    }

    [Fact]
    public void Rejects_BadHeaderDicts()
    {
        BadDict("{'descr': '<f8' 'fortran_order': False, 'shape': (2,), }", null, "not a valid Python dict literal", "expected ',' or '}'");
        BadDict("'descr': '<f8', 'fortran_order': False, 'shape': (2,)", null, "start with '{'");
        BadDict("{'descr': '<f8, 'fortran_order': False, 'shape': (2,), }", null, "not a valid Python dict");
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), } x", null, "after the closing '}'");
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), ", null, "ended");
        BadDict("{'descr': '<f8', 'fortran_order': false, 'shape': (2,), }", null, "unexpected name 'false'");
        BadDict("{descr: '<f8', 'fortran_order': False, 'shape': (2,), }", null, "unexpected name 'descr'");
        BadDict("{1: '<f8', 'fortran_order': False, 'shape': (2,), }", null, "expected a quoted string key");
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': " + new string('(', 100) + "2" + new string(')', 100) + "}", null, "nests more than");
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), '\u00e9': 1}", "\u00e9", "unexpected key");
    }

    [Fact]
    public void Rejects_MissingExtraAndDuplicateKeys()
    {
        BadDict("{'fortran_order': False, 'shape': (2,), }", "descr", "missing key");
        BadDict("{'descr': '<f8', 'shape': (2,), }", "fortran_order", "missing key");
        BadDict("{'descr': '<f8', 'fortran_order': False, }", "shape", "missing key");
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1, }", "extra", "unexpected key", "exactly 'descr', 'fortran_order' and 'shape'");
        BadDict("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", "descr", "twice");
    }

    [Fact]
    public void Rejects_WrongDtypes()
    {
        BadDict("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", "descr", "unsupported dtype '<i4'", "'<f4', '<f8' or '<i8'");
        BadDict("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", "descr", "big-endian");
        BadDict("{'descr': '', 'fortran_order': False, 'shape': (2,), }", "descr", "unsupported dtype ''");
        BadDict("{'descr': [('x', '<f8')], 'fortran_order': False, 'shape': (2,), }", "descr", "the list", "structured dtypes are not supported");
        BadDict("{'descr': 8, 'fortran_order': False, 'shape': (2,), }", "descr", "the int 8");
        BadDict("{'descr': '<f8', 'fortran_order': 0, 'shape': (2,), }", "fortran_order", "expected True or False");

        string i8 = Save(Bytes.Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", Bytes.I64(1, 2)), "ints.npy");
        Expect.Format(() => Npy.Read<float>(i8), i8, "descr", "'<i8'", "64-bit integers", "ReadInt64");
        string f8 = Save(Bytes.Npy(F8x2, Bytes.F64(1, 2)), "floats.npy");
        Expect.Format(() => Npy.ReadInt64(f8), f8, "descr", "'<f8'", "expected '<i8'");
    }

    [Fact]
    public void Rejects_BadShapes()
    {
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': (2), }", "shape", "the int 2, not a tuple", "(2,)");
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': [2], }", "shape", "the list [2]");
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': (2, -1), }", "shape", "shape entry 1 is -1");
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': (2.0,), }", "shape", "shape entry 0 is the number 2.0");
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': ('2',), }", "shape", "shape entry 0 is the string '2'");
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': (3000000000,), }", "shape", "3000000000", "at most 2147483647");
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': (123456789012345678901234567890,), }", "shape", "at most 2147483647");
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': (65536, 65536), }", "shape", "size overflow");
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': (2147483647, 2, 0), }", "shape", "size overflow");
        Assert.Equal([0, 2147483647, 2], Npy.Read<double>(new MemoryStream(Bytes.Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 2147483647, 2), }", [])), "z").ShapeArray);
        BadDict("{'descr': '<f8', 'fortran_order': False, 'shape': None, }", "shape", "None");
    }

    [Fact]
    public void Rejects_FortranOrder()
    {
        Bad(Bytes.Npy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", Bytes.F64(1, 2, 3, 4, 5, 6)),
            "fortran_order", "fortran_order is True", "(2, 3)", "np.ascontiguousarray");
    }

    [Fact]
    public void Rejects_TruncatedDataAndTrailingBytes()
    {
        Bad(Bytes.Npy(F8x2, Bytes.F64(1)), null, "truncated", "expected 16 bytes", "found 8");
        Bad(Bytes.Npy(F8x2, []), null, "truncated", "found 0");
        Bad(Bytes.Npy(F8x2, Bytes.Concat(Bytes.F64(1, 2), [0])), null, "1 trailing bytes", "expected 16 bytes");
        Bad(Bytes.Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", Bytes.F64(1, 2)), null, "(2, 3)", "expected 48 bytes");
        Bad(Bytes.Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }", Bytes.F64(1)), null, "8 trailing bytes");
    }

    [Fact]
    public void Rejects_InvalidUtf8InVersion3Header()
    {
        var b = Bytes.Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", Bytes.F64(1, 2), major: 3);
        b[13] = 0xff;
        Bad(b, null, "not valid UTF-8");
    }

    [Fact]
    public void Write_RejectsUnsupportedElementType()
    {
        Assert.Throws<NotSupportedException>(() => Npy.Write(_dir.File("h.npy"), Tensor<Half>.Zeros(2)));
        Assert.Empty(_dir.Entries());
    }
}
