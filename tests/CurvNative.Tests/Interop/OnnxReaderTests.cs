using System.Diagnostics;
using CurvNative.Interop;
using CurvNative.Interop.Onnx;
using CurvNative.Interop.Onnx.Proto;
using CurvNative.NN.Modules;
using Google.Protobuf;
using Xunit;
using Xunit.Sdk;
using static CurvNative.Tests.NN.PyTorchFixtureTests;
using DataType = CurvNative.Interop.Onnx.Proto.TensorProto.Types.DataType;

namespace CurvNative.Tests.Interop;

/// <summary>
/// The ONNX reader on graphs built here, each with one thing wrong, and on fuzzed files: every failure is a
/// <see cref="CurvNativeFormatException"/> that names the file and what was expected, never another exception.
/// </summary>
public sealed class OnnxReaderTests
{
    private const string Source = "test.onnx";

    // ------------------------------------------------------------------ a small valid graph and its variants

    private static TensorProto Floats(string name, long[] dims, params float[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float };
        t.Dims.Add(dims);
        t.RawData = ByteString.CopyFrom(values.SelectMany(BitConverter.GetBytes).ToArray());
        return t;
    }

    private static TensorProto Int64s(string name, params long[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.Add(values);
        return t;
    }

    private static NodeProto Node(string op, string name, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.Add(inputs);
        n.Output.Add(output);
        n.Attribute.Add(attributes);
        return n;
    }

    private static AttributeProto IntAttr(string name, long v) => new() { Name = name, I = v, Type = AttributeProto.Types.AttributeType.Int };

    private static AttributeProto IntsAttr(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.Add(v);
        return a;
    }

    private static ValueInfoProto Value(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(d < 0 ? new TensorShapeProto.Types.Dimension { DimParam = "batch" } : new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } } };
    }

    /// <summary>x [N, 3] -> Gemm(0.weight [2, 3], 0.bias [2]) -> Relu -> y [N, 2].</summary>
    private static ModelProto Mlp()
    {
        var g = new GraphProto { Name = "g" };
        g.Input.Add(Value("x", -1, 3));
        g.Output.Add(Value("y", -1, 2));
        g.Initializer.Add(Floats("0.weight", [2, 3], 1, 2, 3, 4, 5, 6));
        g.Initializer.Add(Floats("0.bias", [2], 0.5f, -0.5f));
        g.Node.Add(Node("Gemm", "/0/Gemm", ["x", "0.weight", "0.bias"], "h", IntAttr("transB", 1)));
        g.Node.Add(Node("Relu", "/1/Relu", ["h"], "y"));
        var m = new ModelProto { IrVersion = 7, Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return m;
    }

    private static string Error(ModelProto m)
        => Assert.Throws<CurvNativeFormatException>(() => OnnxModel.Parse(m.ToByteArray(), Source)).Message;

    [Fact]
    public void TheSmallGraphImports()
    {
        var model = OnnxModel.Parse(Mlp().ToByteArray(), Source);
        Assert.Equal([3], model.InputShape);
        Assert.Equal([2], model.OutputShape);
        Assert.Null(model.FixedBatchSize);
        var net = model.BuildModel<double>();
        Assert.Equal(["0.weight", "0.bias"], net.Parameters().Select(p => p.Name));
        Assert.Equal([1.0, 2, 3, 4, 5, 6], net.Parameters().First().Value.Span.ToArray());
    }

    [Fact]
    public void AnOpsetOutsideTheSupportedRangeIsNamed()
    {
        var m = Mlp();
        m.OpsetImport[0].Version = 9;
        Assert.Contains("opset 9", Error(m));
    }

    [Fact]
    public void ADynamicSampleAxisIsAnError()
    {
        var m = Mlp();
        m.Graph.Input[0] = Value("x", -1, -1);
        Assert.Contains("dimension 1 of the graph input is dynamic", Error(m));
    }

    [Fact]
    public void AWeightOfTheWrongWidthNamesTheNode()
    {
        var m = Mlp();
        m.Graph.Input[0] = Value("x", -1, 4);
        var e = Error(m);
        Assert.Contains("node '/0/Gemm' (Gemm) expects per-sample input [3]", e);
        Assert.Contains("[4]", e);
    }

    [Fact]
    public void ExternalWeightsAreAnError()
    {
        var m = Mlp();
        m.Graph.Initializer[0].DataLocation = TensorProto.Types.DataLocation.External;
        Assert.Contains("external file", Error(m));
    }

    [Fact]
    public void HugeDimsWithLittleDataFailBeforeAllocating()
    {
        var m = Mlp();
        m.Graph.Initializer[0].Dims[0] = 100_000;
        m.Graph.Initializer[0].Dims[1] = 20_000; // 2e9 elements, 24 bytes stored
        Assert.Contains("raw_data holds 24 bytes; expected 8000000000", Error(m));
        m.Graph.Initializer[0].Dims[1] = 1L << 40;
        Assert.Contains("expected a size in [0, 2147483647]", Error(m));
    }

    [Fact]
    public void ANonFiniteWeightIsAnError()
    {
        var m = Mlp();
        m.Graph.Initializer[1] = Floats("0.bias", [2], 0, float.NaN);
        Assert.Contains("is NaN", Error(m));
    }

    [Fact]
    public void ANodeOffThePathIsNamed()
    {
        var m = Mlp();
        m.Graph.Node.Add(Node("Relu", "/stray/Relu", ["nowhere"], "z"));
        Assert.Contains("node '/stray/Relu' (Relu) is not on the path", Error(m));
    }

    [Fact]
    public void TwoDataInputsAreAnError()
    {
        var m = Mlp();
        m.Graph.Input.Add(Value("x2", -1, 3));
        Assert.Contains("2 data inputs", Error(m));
    }

    [Fact]
    public void AnOutputWrittenTwiceIsAnError()
    {
        var m = Mlp();
        m.Graph.Node.Add(Node("Relu", "/again/Relu", ["h"], "y"));
        Assert.Contains("writes 'y', which another node", Error(m));
    }

    [Fact]
    public void AReshapeThatIsNotAFlattenNamesTheNode()
    {
        var m = Mlp();
        m.Graph.Output[0] = Value("y", -1, 1, 2);
        m.Graph.Node[1].Output[0] = "r";
        m.Graph.Initializer.Add(Int64s("shape", 0, 1, 2));
        m.Graph.Node.Add(Node("Reshape", "/2/Reshape", ["r", "shape"], "y"));
        Assert.Contains("node '/2/Reshape' (Reshape) reshapes per-sample shape [2] by [0, 1, 2]; only flattening", Error(m));
    }

    [Fact]
    public void AReshapeTargetFromAnUnknownValueNamesTheNode()
    {
        var m = Mlp();
        m.Graph.Node[1].Output[0] = "r";
        m.Graph.Node.Add(Node("Reshape", "/2/Reshape", ["r", "nowhere"], "y"));
        Assert.Contains("node '/2/Reshape' (Reshape) computes its target shape from 'nowhere', which is neither a constant nor computed by Shape", Error(m));
    }

    [Fact]
    public void AGroupedConvolutionIsAnError()
    {
        var g = new GraphProto();
        g.Input.Add(Value("x", 2, 2, 5, 5));
        g.Output.Add(Value("y"));
        g.Initializer.Add(Floats("w", [2, 1, 3, 3], new float[18]));
        g.Node.Add(Node("Conv", "/0/Conv", ["x", "w"], "y", IntAttr("group", 2), IntsAttr("kernel_shape", 3, 3)));
        var m = new ModelProto { Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Version = 17 });
        Assert.Contains("node '/0/Conv' (Conv) has group=2", Error(m));
    }

    [Fact]
    public void DeeplyNestedResidualBlocksAreAnErrorNotAStackOverflow()
    {
        Assert.Contains($"nested more than {OnnxGraphImporter<double>.MaxNesting} deep", Error(Nested(OnnxGraphImporter<double>.MaxNesting + 20)));

        // The same structure a few levels deep imports: nested residual blocks of ReLUs.
        var shallow = OnnxModel.Parse(Nested(3).ToByteArray(), Source).BuildModel<double>();
        Assert.Equal(3, shallow.Modules().Count(m => m is Residual<double>));
    }

    /// <summary>x_{d+1} = Relu(x_d) opens block d; block d closes with Add(inner end, x_d).</summary>
    private static ModelProto Nested(int depth)
    {
        var g = new GraphProto();
        g.Input.Add(Value("v0", -1, 3));
        for (int d = 0; d < depth; d++) g.Node.Add(Node("Relu", $"r{d}", [$"v{d}"], $"v{d + 1}"));
        string end = $"v{depth}";
        for (int d = depth - 1; d >= 0; d--)
        {
            g.Node.Add(Node("Add", $"a{d}", [end, $"v{d}"], $"s{d}"));
            end = $"s{d}";
        }
        g.Output.Add(Value(end, -1, 3));
        var m = new ModelProto { Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Version = 13 });
        return m;
    }

    // ------------------------------------------------------------------ files

    [Fact]
    public void FilesThatAreNotRegularOrTooLargeAreRejectedBeforeReading()
    {
        using var dir = new TempDir();
        Assert.Contains("is a directory", Assert.Throws<CurvNativeFormatException>(() => OnnxModel.Load(dir.Path)).Message);
        var empty = dir.File("empty.onnx");
        File.WriteAllBytes(empty, []);
        Assert.Contains("the file is empty", Assert.Throws<CurvNativeFormatException>(() => OnnxModel.Load(empty)).Message);
        var big = dir.File("big.onnx");
        using (var fs = File.Create(big)) fs.SetLength(OnnxModel.MaxFileBytes + 1); // sparse: no disk used
        Assert.Contains("expected at most 1073741824 bytes", Assert.Throws<CurvNativeFormatException>(() => OnnxModel.Load(big)).Message);
        var json = dir.File("model.onnx");
        File.WriteAllText(json, "{\"input_shape\": [3]}");
        Assert.StartsWith(json + ": ", Assert.Throws<CurvNativeFormatException>(() => OnnxModel.Load(json)).Message);
    }

    // ------------------------------------------------------------------ fuzzing

    private static readonly TimeSpan PerCallLimit = TimeSpan.FromSeconds(30);

    /// <summary>Parses and builds; true on success, false on a format error; anything else fails the test.</summary>
    private static bool TryRead(byte[] input, string context)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            OnnxModel.Parse(input, Source).BuildModel<float>();
            return true;
        }
        catch (CurvNativeFormatException e)
        {
            if (e.FilePath != Source || !e.Message.StartsWith(Source, StringComparison.Ordinal))
                throw new XunitException($"{context}: the message does not name the source: {e.Message}");
            return false;
        }
        catch (Exception e)
        {
            throw new XunitException($"{context}: {e.GetType().Name} instead of CurvNativeFormatException for input ({input.Length} bytes) " +
                $"{Convert.ToHexString(input.AsSpan(0, Math.Min(input.Length, 400)))}\n{e}");
        }
        finally
        {
            if (sw.Elapsed > PerCallLimit) throw new XunitException($"{context}: a read took {sw.Elapsed.TotalMilliseconds:F0} ms");
        }
    }

    public static TheoryData<string> FuzzCases() => new("mlp", "rescnn", "cnn_view");

    [Theory]
    [MemberData(nameof(FuzzCases))]
    public void EveryTruncationIsAFormatErrorOrAValidModel(string name)
    {
        var valid = File.ReadAllBytes(Fixture("onnx", name, "model.onnx"));
        Assert.True(TryRead(valid, "valid"));
        int rejected = 0;
        for (int n = 0; n < valid.Length; n++)
            if (!TryRead(valid[..n], $"{name} truncated to {n}")) rejected++;
        // A protobuf cut at a field boundary still parses; the graph it leaves must then fail the import.
        Assert.Equal(valid.Length, rejected);
    }

    [Theory]
    [MemberData(nameof(FuzzCases))]
    public void RandomEditsOnlyEverGiveFormatErrors(string name)
    {
        var valid = File.ReadAllBytes(Fixture("onnx", name, "model.onnx"));
        var r = new Random(name == "mlp" ? 1301 : 1717);
        int accepted = 0;
        for (int i = 0; i < 2500; i++)
            if (TryRead(FuzzTests.Mutate(valid, valid.Length, r), $"{name} edit case {i}")) accepted++;
        Assert.InRange(accepted, 1, 2499); // edits inside weights keep the model valid, most others do not
    }

    [Theory]
    [InlineData("resmlp")]
    [InlineData("cnn_view")]
    public void StructureAwareEditsOnlyEverGiveFormatErrors(string name)
    {
        // Each edit changes one field of the parsed model, to reach the importer's checks rather than the parser's.
        var baseline = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Fixture("onnx", name, "model.onnx")));
        var r = new Random(name.Length * 4242);
        long[] pool = [-1, 0, 1, 2, 3, 7, 1 << 20, int.MaxValue, (long)int.MaxValue + 1, long.MaxValue, long.MinValue];
        string[] ops = ["Gemm", "MatMul", "Add", "Relu", "Conv", "Reshape", "Erf", "Pad", "Flatten", "MaxPool", "Shape", "Gather", "Unsqueeze", "Concat", "Foo"];
        int accepted = 0;
        for (int i = 0; i < 1500; i++)
        {
            var m = baseline.Clone();
            var g = m.Graph;
            var node = g.Node[r.Next(g.Node.Count)];
            switch (r.Next(8))
            {
                case 0: node.OpType = ops[r.Next(ops.Length)]; break;
                case 1: if (node.Input.Count > 0) node.Input[r.Next(node.Input.Count)] = g.Node[r.Next(g.Node.Count)].Output[0]; break;
                case 2: { var t = g.Initializer[r.Next(g.Initializer.Count)]; if (t.Dims.Count > 0) t.Dims[r.Next(t.Dims.Count)] = pool[r.Next(pool.Length)]; break; }
                case 3: { var t = g.Initializer[r.Next(g.Initializer.Count)]; t.DataType = r.Next(0, 17); break; }
                case 4: node.Attribute.Add(IntsAttr(r.Next(2) == 0 ? "pads" : "kernel_shape", pool[r.Next(pool.Length)], pool[r.Next(pool.Length)])); break;
                case 5: g.Input[0].Type.TensorType.Shape.Dim[r.Next(2)].DimValue = pool[r.Next(pool.Length)]; break;
                case 6: g.Node.RemoveAt(r.Next(g.Node.Count)); break;
                default: node.Output[0] = g.Node[r.Next(g.Node.Count)].Output[0]; break;
            }
            if (TryRead(m.ToByteArray(), $"structure edit case {i}")) accepted++;
        }
        Assert.InRange(accepted, 0, 1499);
    }
}
