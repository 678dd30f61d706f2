using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Numerics;
using System.Text;
using System.Text.Unicode;
using CurvNative.Tensors;

namespace CurvNative.Interop;

/// <summary>The header of a NumPy <c>.npy</c> file, as parsed by <see cref="Npy.ReadHeader(string)"/>.</summary>
public sealed class NpyHeader
{
    private readonly int[] _shape;

    internal NpyHeader(int major, int minor, string descr, bool fortranOrder, int[] shape, long elementCount, long dataOffset)
    {
        MajorVersion = major;
        MinorVersion = minor;
        Descr = descr;
        FortranOrder = fortranOrder;
        _shape = shape;
        Shape = new ReadOnlyCollection<int>(shape);
        ElementCount = elementCount;
        DataOffset = dataOffset;
    }

    /// <summary>Format major version (1, 2 or 3).</summary>
    public int MajorVersion { get; }

    /// <summary>Format minor version (0).</summary>
    public int MinorVersion { get; }

    /// <summary>The dtype descriptor as written, for example <c>"&lt;f8"</c>.</summary>
    public string Descr { get; }

    /// <summary>True when the data is stored column-major.</summary>
    public bool FortranOrder { get; }

    /// <summary>The shape, outermost axis first; empty for a 0-d array.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>A copy of the shape as an array.</summary>
    public int[] ShapeArray => (int[])_shape.Clone();

    /// <summary>Number of elements (1 for a 0-d array).</summary>
    public long ElementCount { get; }

    /// <summary>Byte offset of the data from the start of the file (a multiple of 64 for files numpy writes).</summary>
    public long DataOffset { get; }
}

/// <summary>
/// Reads and writes NumPy <c>.npy</c> files (format spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
/// the magic <c>\x93NUMPY</c>, major and minor version bytes, the header length (u16 little-endian in version
/// 1.0, u32 in 2.0 and 3.0), an ASCII (3.0: UTF-8) Python dict literal such as
/// <c>{'descr': '&lt;f8', 'fortran_order': False, 'shape': (3, 4), }</c> padded with spaces and ended by
/// <c>'\n'</c>, then the raw elements.
/// </summary>
/// <remarks>
/// <para>Supported dtypes: <c>&lt;f4</c>, <c>&lt;f8</c>, <c>&lt;i8</c>; the byte-order marks <c>|</c> and <c>=</c>, or none,
/// are read as little-endian too, <c>&gt;</c> (big-endian) is rejected. Shapes may be 0-d <c>()</c>, 1-d <c>(5,)</c>
/// and may contain zeros.</para>
/// <para><c>fortran_order: True</c> is rejected when it changes the memory layout (two or more axes longer than 1);
/// when at most one axis is longer than 1 the two orders coincide and the file is read normally.</para>
/// <para>The file must end exactly where the data ends: trailing bytes are an error (numpy ignores them, but they
/// usually mean a header that disagrees with the data). Writers produce version 1.0 byte-for-byte as
/// <c>numpy.save</c> does (including numpy's spare header space for growing axis 0), falling back to 2.0 only
/// when the header exceeds 65535 bytes.</para>
/// </remarks>
public static class Npy
{
    /// <summary>The largest header accepted, in bytes (1 MiB; numpy itself refuses more than 10000 by default).</summary>
    public const int MaxHeaderBytes = 1 << 20;

    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];
    private const int ArrayAlign = 64;
    private const int GrowthAxisMaxDigits = 21;

    private enum Kind { F4, F8, I8 }

    // ------------------------------------------------------------------ reading

    /// <summary>Reads only the header of a <c>.npy</c> file (any dtype), validating its syntax, keys and shape.</summary>
    /// <exception cref="CurvNativeFormatException">The header is malformed.</exception>
    public static NpyHeader ReadHeader(string path)
    {
        using var fs = Open(path);
        return ParseHeader(fs, path);
    }

    /// <summary>Reads only the header of a <c>.npy</c> array at the current position of a stream (see <see cref="ReadHeader(string)"/>).</summary>
    /// <param name="stream">The stream; non-seekable streams are first copied to memory.</param>
    /// <param name="sourceName">A name for the content, used in error messages.</param>
    /// <exception cref="CurvNativeFormatException">The header is malformed.</exception>
    public static NpyHeader ReadHeader(Stream stream, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        return ParseHeader(LittleEndian.Seekable(stream), sourceName);
    }

    /// <summary>Reads a <c>.npy</c> file of <c>&lt;f4</c> or <c>&lt;f8</c> into a tensor, converting between float widths when needed
    /// (f8 to float rounds to nearest; values beyond float range become infinities).</summary>
    /// <exception cref="CurvNativeFormatException">The file is malformed, truncated, has trailing bytes, is Fortran-ordered,
    /// or holds another dtype (for <c>&lt;i8</c> use <see cref="ReadInt64(string)"/>).</exception>
    public static Tensor<T> Read<T>(string path) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var fs = Open(path);
        return ReadCore<T>(fs, path);
    }

    /// <summary>Reads a <c>.npy</c> array from the current position of a stream to its end (see <see cref="Read{T}(string)"/>).</summary>
    /// <param name="stream">The stream; non-seekable streams are first copied to memory.</param>
    /// <param name="sourceName">A name for the content, used in error messages.</param>
    public static Tensor<T> Read<T>(Stream stream, string sourceName) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        return ReadCore<T>(LittleEndian.Seekable(stream), sourceName);
    }

    /// <summary>Reads a <c>.npy</c> file of <c>&lt;i8</c> (64-bit integers).</summary>
    /// <exception cref="CurvNativeFormatException">The file is malformed, truncated, has trailing bytes, is Fortran-ordered,
    /// or holds another dtype.</exception>
    public static Int64Tensor ReadInt64(string path)
    {
        using var fs = Open(path);
        return ReadInt64Core(fs, path);
    }

    /// <summary>Reads a <c>.npy</c> array of <c>&lt;i8</c> from the current position of a stream to its end.</summary>
    /// <param name="stream">The stream; non-seekable streams are first copied to memory.</param>
    /// <param name="sourceName">A name for the content, used in error messages.</param>
    public static Int64Tensor ReadInt64(Stream stream, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        return ReadInt64Core(LittleEndian.Seekable(stream), sourceName);
    }

    private static FileStream Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
    }

    private static Tensor<T> ReadCore<T>(Stream s, string source) where T : unmanaged, IFloatingPointIeee754<T>
    {
        return Guard(source, () =>
        {
            var h = ParseHeader(s, source);
            var kind = Resolve(h, source);
            CheckLayout(h, kind, s, source);
            var shape = h.ShapeArray;
            switch (kind)
            {
                case Kind.F4:
                {
                    var a = new float[h.ElementCount];
                    LittleEndian.Read<float>(s, a);
                    return Tensor<T>.FromArray(Convert<float, T>(a), shape);
                }
                case Kind.F8:
                {
                    var a = new double[h.ElementCount];
                    LittleEndian.Read<double>(s, a);
                    return Tensor<T>.FromArray(Convert<double, T>(a), shape);
                }
                default:
                    throw new CurvNativeFormatException(source, "descr",
                        $"dtype is {Text.Quote(h.Descr)} (64-bit integers); expected '<f4' or '<f8' to load a Tensor<{typeof(T).Name}>. Use Npy.ReadInt64 for integer arrays.");
            }
        });
    }

    private static Int64Tensor ReadInt64Core(Stream s, string source)
    {
        return Guard(source, () =>
        {
            var h = ParseHeader(s, source);
            var kind = Resolve(h, source);
            if (kind != Kind.I8)
                throw new CurvNativeFormatException(source, "descr",
                    $"dtype is {Text.Quote(h.Descr)}; expected '<i8' for ReadInt64. Use Npy.Read<float> or Npy.Read<double> for float arrays.");
            CheckLayout(h, kind, s, source);
            var a = new long[h.ElementCount];
            LittleEndian.Read<long>(s, a);
            return new Int64Tensor(a, h.ShapeArray);
        });
    }

    private static TResult Guard<TResult>(string source, Func<TResult> body)
    {
        try
        {
            return body();
        }
        catch (EndOfStreamException ex)
        {
            throw new CurvNativeFormatException(source, null, "the file ended before the data its header describes (was it modified while being read?).", ex);
        }
    }

    private static TOut[] Convert<TIn, TOut>(TIn[] src)
        where TIn : unmanaged, IFloatingPointIeee754<TIn>
        where TOut : unmanaged, IFloatingPointIeee754<TOut>
    {
        if (typeof(TIn) == typeof(TOut)) return (TOut[])(object)src;
        var dst = new TOut[src.Length];
        for (int i = 0; i < src.Length; i++) dst[i] = TOut.CreateTruncating(src[i]);
        return dst;
    }

    private static Kind Resolve(NpyHeader h, string source)
    {
        string d = h.Descr;
        string code = d.Length > 0 && d[0] is '<' or '>' or '|' or '=' ? d[1..] : d;
        Kind? kind = code switch { "f4" => Kind.F4, "f8" => Kind.F8, "i8" => Kind.I8, _ => null };
        if (kind is null)
            throw new CurvNativeFormatException(source, "descr", $"unsupported dtype {Text.Quote(d, 60)}; expected '<f4', '<f8' or '<i8'.");
        if (d[0] == '>')
            throw new CurvNativeFormatException(source, "descr",
                $"dtype {Text.Quote(d)} is big-endian; expected little-endian '<{code}' (convert with arr.astype('<{code}') before saving).");
        return kind.Value;
    }

    private static void CheckLayout(NpyHeader h, Kind kind, Stream s, string source)
    {
        if (h.FortranOrder && h.Shape.Count(d => d > 1) > 1 && h.ElementCount > 0)
            throw new CurvNativeFormatException(source, "fortran_order",
                $"fortran_order is True for shape {PyShape(h.ShapeArray)} (column-major data); expected False. Save with np.ascontiguousarray(arr) to store it row-major.");
        long itemSize = kind == Kind.F4 ? 4 : 8;
        long expected = h.ElementCount * itemSize;
        long available = s.Length - s.Position;
        if (available < expected)
            throw new CurvNativeFormatException(source, null,
                $"the data is truncated: expected {expected} bytes for shape {PyShape(h.ShapeArray)} of {Text.Quote(h.Descr)}, found {available}.");
        if (available > expected)
            throw new CurvNativeFormatException(source, null,
                $"the file has {available - expected} trailing bytes: expected {expected} bytes of data for shape {PyShape(h.ShapeArray)} of {Text.Quote(h.Descr)}, found {available}.");
    }

    private static NpyHeader ParseHeader(Stream s, string source)
    {
        try
        {
            return ParseHeaderCore(s, source);
        }
        catch (EndOfStreamException ex)
        {
            throw new CurvNativeFormatException(source, null, "the file ended inside the header (was it modified while being read?).", ex);
        }
    }

    private static NpyHeader ParseHeaderCore(Stream s, string source)
    {
        CurvNativeFormatException Fail(string? key, string detail) => new(source, key, detail);

        long start = s.Position;
        long length = s.Length - start;
        Span<byte> prefix = stackalloc byte[12];
        int got = (int)Math.Min(length, 10);
        s.ReadExactly(prefix[..got]);
        int m = Math.Min(got, 6);
        if (!prefix[..m].SequenceEqual(Magic.AsSpan(0, m)))
            throw Fail(null, $"expected the magic string \"\\x93NUMPY\" at the start, found {Text.Bytes(prefix[..m])}; this is not a .npy file.");
        if (got < 10)
            throw Fail(null, $"the file is {length} bytes long; expected at least 10 bytes (magic, version, header length).");
        int major = prefix[6], minor = prefix[7];
        if (!(minor == 0 && major is 1 or 2 or 3))
            throw Fail(null, $"format version is {major}.{minor}; expected 1.0, 2.0 or 3.0.");
        int lenBytes = major == 1 ? 2 : 4;
        int prefixLen = 8 + lenBytes;
        if (length < prefixLen)
            throw Fail(null, $"the file is {length} bytes long; expected at least {prefixLen} bytes (magic, version, {lenBytes}-byte header length).");
        if (major != 1) s.ReadExactly(prefix[10..12]);
        long headerLen = major == 1
            ? BinaryPrimitives.ReadUInt16LittleEndian(prefix[8..10])
            : BinaryPrimitives.ReadUInt32LittleEndian(prefix[8..12]);
        if (headerLen > MaxHeaderBytes)
            throw Fail(null, $"the header length field is {headerLen} bytes; expected at most {MaxHeaderBytes}.");
        if (headerLen > length - prefixLen)
            throw Fail(null, $"the header length field is {headerLen} bytes but only {length - prefixLen} bytes follow it (the file is {length} bytes long).");
        var raw = new byte[headerLen];
        s.ReadExactly(raw);

        string text;
        if (major == 3)
        {
            if (!Utf8.IsValid(raw)) throw Fail(null, $"the version 3.0 header is not valid UTF-8; it starts with {Text.Bytes(raw, 60)}.");
            text = Encoding.UTF8.GetString(raw);
        }
        else text = Encoding.Latin1.GetString(raw);

        var entries = PyLiteral.ParseDict(text, detail => Fail(null, $"the header is not a valid Python dict literal: {detail}"));
        PyLiteral.Value? descrV = null, fortranV = null, shapeV = null;
        foreach (var (k, v) in entries)
        {
            switch (k)
            {
                case "descr": if (descrV is not null) throw Fail(k, "the header lists this key twice; expected it once."); descrV = v; break;
                case "fortran_order": if (fortranV is not null) throw Fail(k, "the header lists this key twice; expected it once."); fortranV = v; break;
                case "shape": if (shapeV is not null) throw Fail(k, "the header lists this key twice; expected it once."); shapeV = v; break;
                default: throw Fail(k, "unexpected key in the header; expected exactly 'descr', 'fortran_order' and 'shape'.");
            }
        }
        string hdr = Text.Quote(text.TrimEnd(), 160);
        if (descrV is null) throw Fail("descr", $"missing key in the header {hdr}; expected 'descr', 'fortran_order' and 'shape'.");
        if (fortranV is null) throw Fail("fortran_order", $"missing key in the header {hdr}; expected 'descr', 'fortran_order' and 'shape'.");
        if (shapeV is null) throw Fail("shape", $"missing key in the header {hdr}; expected 'descr', 'fortran_order' and 'shape'.");

        if (descrV is not PyLiteral.Str descr)
            throw Fail("descr", $"descr is {descrV.Describe}; expected a dtype string such as '<f8' (structured dtypes are not supported).");
        if (fortranV is not PyLiteral.Bool fortran)
            throw Fail("fortran_order", $"fortran_order is {fortranV.Describe}; expected True or False.");
        if (shapeV is not PyLiteral.Tuple tuple)
            throw Fail("shape", shapeV is PyLiteral.Int
                ? $"shape is {shapeV.Describe}, not a tuple; expected a tuple such as ({Text.Escape(shapeV.Raw, 20)},) (note the comma)."
                : $"shape is {shapeV.Describe}; expected a tuple of non-negative integers such as (3, 4).");

        var shape = new int[tuple.Items.Count];
        for (int i = 0; i < shape.Length; i++)
        {
            var item = tuple.Items[i];
            if (item is not PyLiteral.Int n)
                throw Fail("shape", $"shape entry {i} is {item.Describe}; expected a non-negative integer.");
            if (n.Overflow || n.V > int.MaxValue)
                throw Fail("shape", $"shape entry {i} is {Text.Escape(n.Raw, 40)}; expected at most {int.MaxValue}.");
            if (n.V < 0)
                throw Fail("shape", $"shape entry {i} is {n.V}; expected a non-negative integer.");
            shape[i] = (int)n.V;
        }
        if (!ShapeCheck.TryCount(shape, out long count))
            throw Fail("shape", $"shape {PyShape(shape)} is too large (size overflow): the running product of its dimensions exceeds {int.MaxValue}, the most an array can hold here.");
        return new NpyHeader(major, minor, descr.V, fortran.V, shape, count, prefixLen + headerLen);
    }

    // ------------------------------------------------------------------ writing

    /// <summary>
    /// Writes a float tensor as <c>&lt;f4</c> or a double tensor as <c>&lt;f8</c>, atomically (temporary file in the same
    /// folder, then rename; on failure the destination is untouched and no temporary file remains).
    /// </summary>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is neither float nor double.</exception>
    /// <exception cref="IOException">The file cannot be written; <see cref="DirectoryNotFoundException"/> when its directory does not exist.</exception>
    public static void Write<T>(string path, Tensor<T> tensor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        byte[] header = Header(DescrOf<T>(), tensor.Shape);
        AtomicFile.Write(path, s => { s.Write(header); WriteData(s, tensor); });
    }

    /// <summary>Writes a float or double tensor in <c>.npy</c> format to a stream.</summary>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is neither float nor double.</exception>
    public static void Write<T>(Stream stream, Tensor<T> tensor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensor);
        stream.Write(Header(DescrOf<T>(), tensor.Shape));
        WriteData(stream, tensor);
    }

    /// <summary>Writes 64-bit integers as <c>&lt;i8</c>, atomically (see <see cref="Write{T}(string, Tensor{T})"/>).</summary>
    /// <exception cref="IOException">The file cannot be written; <see cref="DirectoryNotFoundException"/> when its directory does not exist.</exception>
    public static void WriteInt64(string path, Int64Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        byte[] header = Header("<i8", tensor.Shape);
        AtomicFile.Write(path, s => { s.Write(header); LittleEndian.Write<long>(s, tensor.Data); });
    }

    /// <summary>Writes 64-bit integers as <c>&lt;i8</c> in <c>.npy</c> format to a stream.</summary>
    public static void WriteInt64(Stream stream, Int64Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensor);
        stream.Write(Header("<i8", tensor.Shape));
        LittleEndian.Write<long>(stream, tensor.Data);
    }

    private static string DescrOf<T>() =>
        typeof(T) == typeof(float) ? "<f4"
        : typeof(T) == typeof(double) ? "<f8"
        : throw new NotSupportedException($"Npy.Write supports Tensor<float> and Tensor<double>, not Tensor<{typeof(T).Name}>.");

    private static void WriteData<T>(Stream s, Tensor<T> tensor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        LittleEndian.Write<T>(s, tensor.Span);
    }

    /// <summary>Python's repr of a shape tuple: (), (5,), (2, 3).</summary>
    private static string PyShape(ReadOnlySpan<int> shape) =>
        shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape.ToArray()) + ")";

    /// <summary>Magic, version, length and padded header exactly as numpy.lib.format writes them.</summary>
    internal static byte[] Header(string descr, ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder();
        sb.Append("{'descr': '").Append(descr).Append("', 'fortran_order': False, 'shape': ").Append(PyShape(shape)).Append(", }");
        if (shape.Length > 0)
            sb.Append(' ', Math.Max(0, GrowthAxisMaxDigits - shape[0].ToString(System.Globalization.CultureInfo.InvariantCulture).Length));
        string dict = sb.ToString();
        int hlen = dict.Length + 1; // + '\n'
        int major = 1, prefixLen = 10;
        int padlen = ArrayAlign - (prefixLen + hlen) % ArrayAlign;
        if (hlen + padlen > ushort.MaxValue)
        {
            major = 2;
            prefixLen = 12;
            padlen = ArrayAlign - (prefixLen + hlen) % ArrayAlign;
        }
        if (hlen + padlen > MaxHeaderBytes)
            throw new NotSupportedException($"A shape of rank {shape.Length} needs a .npy header of {hlen + padlen} bytes, more than the {MaxHeaderBytes} readers accept.");
        var bytes = new byte[prefixLen + hlen + padlen];
        Magic.CopyTo(bytes, 0);
        bytes[6] = (byte)major;
        bytes[7] = 0;
        if (major == 1) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)(hlen + padlen));
        else BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)(hlen + padlen));
        Encoding.ASCII.GetBytes(dict, bytes.AsSpan(prefixLen));
        bytes.AsSpan(prefixLen + dict.Length, padlen).Fill((byte)' ');
        bytes[^1] = (byte)'\n';
        return bytes;
    }
}
