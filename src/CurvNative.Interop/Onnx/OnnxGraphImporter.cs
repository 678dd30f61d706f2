using System.Globalization;
using System.Numerics;
using CurvNative.Interop.Onnx.Proto;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Interop.Onnx;

/// <summary>
/// Turns an ONNX graph into modules by following the data from the graph's input: a value used by one node
/// continues a chain of layers; a value used by two nodes opens either the GELU pattern (Div by sqrt 2, Erf, Add 1,
/// Mul by x, Mul by 1/2) or a residual block, whose two paths meet again at an Add of two computed values.
/// Per-sample shapes are followed along, so a mismatch is reported at the node where it occurs.
/// </summary>
internal sealed class OnnxGraphImporter<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>What an import produces.</summary>
    internal sealed record Result(Sequential<T> Model, int[] InputShape, int[] OutputShape, int? FixedBatchSize, long OpsetVersion);

    /// <summary>Default-domain opsets whose semantics of the supported ops this importer follows.</summary>
    internal const int MinOpset = 11, MaxOpset = 21;

    private static readonly string[] SupportedOps =
    [
        "Gemm", "MatMul", "Conv", "Relu", "Tanh", "Sigmoid", "Gelu", "Sin", "Cos", "Exp", "Softplus", "Flatten", "Reshape",
        "MaxPool", "AveragePool", "GlobalAveragePool", "Add", "Identity", "Constant",
        // Parts of patterns: GELU's Div, Erf, Mul; PyTorch's zero Pad before AveragePool.
        "Div", "Erf", "Mul", "Pad",
        // A Reshape target computed from the input's shape: x.view(x.size(0), -1) with a dynamic batch axis.
        "Shape", "Gather", "Unsqueeze", "Concat",
    ];

    private static readonly string[] ShapeOps = ["Shape", "Gather", "Unsqueeze", "Concat"];

    /// <summary>The batch size in a shape computation: unknown until run time.</summary>
    private const long Batch = long.MinValue;

    private readonly ModelProto _model;
    private readonly GraphProto _graph;
    private readonly string _path;
    private readonly Dictionary<string, TensorProto> _constants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<NodeProto>> _users = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _constantUses = new(StringComparer.Ordinal);
    private readonly Dictionary<NodeProto, int> _index = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<NodeProto> _visited = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, int[]> _shapes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _parameterNames = new(StringComparer.Ordinal);
    private int? _fixedBatch;
    private int _depth;

    /// <summary>Nesting of residual blocks the walk follows (each level is a recursion): far beyond real models,
    /// well within the stack.</summary>
    internal const int MaxNesting = 100;

    public OnnxGraphImporter(ModelProto model, string path)
    {
        _model = model;
        _graph = model.Graph;
        _path = path;
    }

    public Result Import()
    {
        long opset = Opset();
        for (int i = 0; i < _graph.Node.Count; i++) _index[_graph.Node[i]] = i;
        foreach (var t in _graph.Initializer)
        {
            if (string.IsNullOrEmpty(t.Name)) throw Error("an initializer has no name.");
            _constants[t.Name] = t;
        }
        foreach (var node in _graph.Node)
        {
            if (!(node.Domain is "" or "ai.onnx") || !SupportedOps.Contains(node.OpType))
                throw Fail(node, $"is not supported: op type {Text.Quote(node.OpType, 60)}{(node.Domain is "" or "ai.onnx" ? "" : $" of domain {Text.Quote(node.Domain, 60)}")}; " +
                    $"supported: {string.Join(", ", SupportedOps.Where(o => o != "Constant"))}.");
            if (node.OpType == "Constant") AddConstantNode(node);
        }
        var produced = new HashSet<string>(_constants.Keys.Concat(_graph.Input.Select(i => i.Name)), StringComparer.Ordinal);
        foreach (var node in _graph.Node)
        {
            if (node.OpType == "Constant") continue;
            if (node.Output.Count == 0 || string.IsNullOrEmpty(node.Output[0])) throw Fail(node, "has no output.");
            foreach (var output in node.Output.Where(o => o.Length > 0))
            {
                if (!produced.Add(output)) throw Fail(node, $"writes '{Text.Escape(output)}', which another node or initializer also defines.");
                _producers[output] = node;
            }
            if (node.OpType == "Shape") continue; // reads its input's shape, not its values: not a layer on the path
            foreach (var input in node.Input.Where(i => i.Length > 0).Distinct())
            {
                if (_constants.ContainsKey(input)) _constantUses[input] = _constantUses.GetValueOrDefault(input) + 1;
                else
                {
                    if (!_users.TryGetValue(input, out var list)) _users[input] = list = [];
                    list.Add(node);
                }
            }
        }

        var (inputName, inputShape) = GraphInput();
        if (_graph.Output.Count != 1) throw Error($"the graph has {_graph.Output.Count} outputs; expected one (the model's output).");
        var outputName = _graph.Output[0].Name;
        _shapes[inputName] = inputShape;

        var (modules, end, join) = Chain(inputName, null);
        if (join is not null) throw Fail(join, "adds two computed values that are not the two paths of a residual block x + f(x).");
        if (end != outputName)
            throw Error($"the path from the input '{Text.Escape(inputName)}' ends at '{Text.Escape(end)}', which is not the graph's output '{Text.Escape(outputName)}'.");
        var unvisited = _graph.Node.FirstOrDefault(n => n.OpType != "Constant" && !_visited.Contains(n));
        if (unvisited is not null) throw Fail(unvisited, "is not on the path from the graph's input to its output.");

        var outputShape = _shapes[end];
        CheckDeclaredOutput(outputShape);
        return new Result(new Sequential<T>([.. modules]), inputShape, outputShape, _fixedBatch, opset);
    }

    // ------------------------------------------------------------------ graph walk

    /// <summary>Follows the data from <paramref name="value"/> (into <paramref name="first"/> when given) until the
    /// graph ends or a residual join is reached; returns the layers, the last value and the join node.</summary>
    private (List<Module<T>> Modules, string End, NodeProto? Join) Chain(string value, NodeProto? first)
    {
        if (++_depth > MaxNesting)
            throw Error($"residual blocks are nested more than {MaxNesting} deep at '{Text.Escape(value)}'; expected a shallower graph.");
        try { return ChainCore(value, first); }
        finally { _depth--; }
    }

    private (List<Module<T>> Modules, string End, NodeProto? Join) ChainCore(string value, NodeProto? first)
    {
        var modules = new List<Module<T>>();
        while (true)
        {
            NodeProto node;
            if (first is not null) { node = first; first = null; }
            else
            {
                var users = Users(value);
                if (users.Count == 0) return (modules, value, null);
                if (users.Count == 1) node = users[0];
                else
                {
                    if (TryGelu(value, users) is { } geluEnd)
                    {
                        modules.Add(new GELU<T>());
                        _shapes[geluEnd] = _shapes[value];
                        value = geluEnd;
                    }
                    else value = ResidualBlock(value, users, modules);
                    continue;
                }
            }
            if (IsJoin(node)) return (modules, value, node);
            var (module, output) = Convert(node, value);
            if (module is not null) modules.Add(module);
            value = output;
        }
    }

    /// <summary>Marks a node as imported; a second visit means a cycle (or a node reached along two paths).</summary>
    private void Visit(NodeProto node)
    {
        if (!_visited.Add(node)) throw Fail(node, "is reached twice from the input; expected an acyclic chain of layers and residual blocks.");
    }

    private IReadOnlyList<NodeProto> Users(string value) => _users.TryGetValue(value, out var list) ? list : [];

    private bool IsJoin(NodeProto node) => node.OpType == "Add" && node.Input.Count == 2 && !_constants.ContainsKey(node.Input[0]) && !_constants.ContainsKey(node.Input[1]);

    /// <summary>x + body(x) or body(x) + shortcut(x): the two users of <paramref name="value"/> start the two paths,
    /// which must meet at one Add. Returns the Add's output.</summary>
    private string ResidualBlock(string value, IReadOnlyList<NodeProto> users, List<Module<T>> modules)
    {
        string Uses() => string.Join(", ", users.Select(Describe));
        if (users.Count != 2)
            throw Error($"the value '{Text.Escape(value)}' is used by {users.Count} nodes ({Uses()}); expected one, or two that form a residual block x + f(x) or GELU.");
        var paths = users.Select(u => IsJoin(u) ? (Modules: new List<Module<T>>(), End: value, Join: (NodeProto?)u) : Chain(value, u)).ToArray();
        var join = paths[0].Join;
        if (join is null || !ReferenceEquals(join, paths[1].Join))
            throw Error($"the value '{Text.Escape(value)}' is used by two nodes ({Uses()}) whose paths do not meet at one Add; expected a residual block x + f(x) or GELU.");
        if (join.Input[0] == join.Input[1]) throw Fail(join, "adds a value to itself; expected the two paths of a residual block.");
        Visit(join);
        int body = paths[0].End == join.Input[0] ? 0 : 1;
        if (paths[body].End != join.Input[0] || paths[1 - body].End != join.Input[1])
            throw Fail(join, "does not add the ends of the two paths that leave the block's input.");
        if (paths[body].Modules.Count == 0) body = 1 - body; // x + f(x): the computed path is the body
        var (a, b) = (_shapes[paths[body].End], _shapes[paths[1 - body].End]);
        if (!a.AsSpan().SequenceEqual(b))
            throw Fail(join, $"adds per-sample shapes {Shape.Format(a)} and {Shape.Format(b)}; a residual block needs equal shapes.");
        var shortcut = paths[1 - body].Modules;
        modules.Add(new Residual<T>(new Sequential<T>([.. paths[body].Modules]), shortcut.Count == 0 ? null : new Sequential<T>([.. shortcut])));
        var output = join.Output[0];
        _shapes[output] = a;
        return output;
    }

    /// <summary>PyTorch's export of GELU(approximate='none'): x/sqrt(2) -> Erf -> +1 -> x * . -> * 0.5. Returns the
    /// pattern's output, or null when the two users of <paramref name="x"/> are not this pattern.</summary>
    private string? TryGelu(string x, IReadOnlyList<NodeProto> users)
    {
        if (users.Count != 2) return null;
        var div = users.FirstOrDefault(u => u.OpType == "Div");
        var mul = users.FirstOrDefault(u => u.OpType == "Mul");
        if (div is null || mul is null || div.Input.Count != 2 || div.Input[0] != x || !IsConstant(div.Input[1], Math.Sqrt(2), 1e-6)) return null;
        var erf = SoleUser(div, "Erf");
        var add = erf is null ? null : SoleUser(erf, "Add");
        if (add is null || add.Input.Count != 2) return null;
        var addConstant = add.Input[0] == erf!.Output[0] ? add.Input[1] : add.Input[0];
        if (!IsConstant(addConstant, 1, 0)) return null;
        if (SoleUser(add, "Mul") is not { } m || !ReferenceEquals(m, mul) || !(mul.Input.Contains(x) && mul.Input.Contains(add.Output[0]))) return null;
        var half = SoleUser(mul, "Mul");
        if (half is null || half.Input.Count != 2) return null;
        var halfConstant = half.Input[0] == mul.Output[0] ? half.Input[1] : half.Input[0];
        if (!IsConstant(halfConstant, 0.5, 0)) return null;
        foreach (var n in new[] { div, erf, add, mul, half }) Visit(n);
        return half.Output[0];
    }

    private NodeProto? SoleUser(NodeProto node, string opType)
    {
        var users = Users(node.Output[0]);
        return users.Count == 1 && users[0].OpType == opType ? users[0] : null;
    }

    private bool IsConstant(string name, double value, double tolerance)
        => _constants.TryGetValue(name, out var t) && t.DataType is (int)TensorProto.Types.DataType.Float or (int)TensorProto.Types.DataType.Double
           && Math.Abs(OnnxTensors.Scalar(t, _path, name) - value) <= tolerance * Math.Abs(value);

    // ------------------------------------------------------------------ one node

    /// <summary>The layer of one node (null for a node that passes its input on), and the value it produces.</summary>
    private (Module<T>? Module, string Output) Convert(NodeProto node, string input)
    {
        Visit(node);
        if (node.Input.Count == 0 || node.Input[0] != input)
            throw Fail(node, $"takes the computed value '{Text.Escape(input)}' as an input other than its first; expected it first.");
        var shape = _shapes[input];
        var output = node.Output[0];
        foreach (var extra in node.Output.Skip(1))
            if (extra.Length > 0 && Users(extra).Count > 0) throw Fail(node, $"its second output '{Text.Escape(extra)}' is used; only the first output is supported.");
        Module<T>? module;
        int[] outShape = shape;
        switch (node.OpType)
        {
            case "Gemm": (module, outShape) = Gemm(node, shape); break;
            case "MatMul": (module, outShape, output) = MatMul(node, shape); break;
            case "Conv": (module, outShape) = Conv(node, shape); break;
            case "MaxPool" or "AveragePool": (module, outShape) = Pool(node, shape); break;
            case "GlobalAveragePool":
                ExpectRank(node, shape, 3, "[C, H, W]");
                (module, outShape) = (new GlobalAvgPool2d<T>(), [shape[0], 1, 1]);
                break;
            case "Flatten":
            {
                long axis = Int(node, "axis", 1);
                if (axis != 1) throw Fail(node, $"flattens from axis {axis}; only axis 1 (keep the batch axis: nn.Flatten, torch.flatten(x, 1)) is supported.");
                (module, outShape) = (new Flatten<T>(), [Shape.Size(shape)]);
                break;
            }
            case "Reshape": (module, outShape) = Reshape(node, shape); break;
            case "Pad": module = ZeroPad(node); break;
            case "Identity": module = null; break;
            case "Relu": module = new ReLU<T>(); break;
            case "Tanh": module = new Tanh<T>(); break;
            case "Sigmoid": module = new Sigmoid<T>(); break;
            case "Softplus": module = new Softplus<T>(); break;
            case "Sin": module = new Sin<T>(); break;
            case "Cos": module = new Cos<T>(); break;
            case "Exp": module = new Exp<T>(); break;
            case "Gelu":
            {
                var approximate = Str(node, "approximate", "none");
                if (approximate != "none") throw Fail(node, $"has approximate={Text.Quote(approximate, 20)}; only the exact (erf) GELU is supported.");
                module = new GELU<T>();
                break;
            }
            case "Add": throw Fail(node, "adds a constant; expected a constant added only as the bias right after a MatMul (a Linear layer).");
            case "Div" or "Erf" or "Mul": throw Fail(node, "is supported only inside the GELU pattern x/sqrt(2) -> Erf -> +1 -> *x -> *0.5, which this node is not part of.");
            default: throw Fail(node, "is supported only in computing the target shape of a Reshape, which this node does not.");
        }
        _shapes[output] = outShape;
        return (module, output);
    }

    private (Module<T>, int[]) Gemm(NodeProto node, int[] shape)
    {
        if (Float(node, "alpha", 1) != 1 || Float(node, "beta", 1) != 1 || Int(node, "transA", 0) != 0)
            throw Fail(node, "has alpha, beta or transA other than 1, 1, 0; expected PyTorch's export of nn.Linear.");
        bool transB = Int(node, "transB", 0) != 0;
        var (weightName, w) = Weight(node, 1);
        if (w.Rank != 2) throw Fail(node, $"has a weight of shape {Shape.Format(w.Shape)}; expected a matrix.");
        if (!transB) w = TensorOps.Permute(w, [1, 0]);
        string? biasName = node.Input.Count > 2 && node.Input[2].Length > 0 ? node.Input[2] : null;
        return Linear(node, shape, weightName, w, biasName);
    }

    private (Module<T>, int[], string Output) MatMul(NodeProto node, int[] shape)
    {
        if (node.Input.Count != 2) throw Fail(node, $"has {node.Input.Count} inputs; expected 2.");
        var (weightName, w) = Weight(node, 1);
        if (w.Rank != 2) throw Fail(node, $"multiplies by a constant of shape {Shape.Format(w.Shape)}; expected a [in, out] matrix (nn.Linear).");
        // The bias of a Linear layer follows as an Add of a constant: it becomes part of the layer.
        string? biasName = null;
        var output = node.Output[0];
        var users = Users(output);
        if (users.Count == 1 && users[0].OpType == "Add" && !IsJoin(users[0]))
        {
            var add = users[0];
            biasName = add.Input[0] == output ? add.Input[1] : add.Input[0];
            Visit(add);
            output = add.Output[0];
        }
        var (module, outShape) = Linear(node, shape, weightName, TensorOps.Permute(w, [1, 0]), biasName);
        return (module, outShape, output);
    }

    private (Module<T>, int[]) Linear(NodeProto node, int[] shape, string weightName, Tensor<T> weight, string? biasName)
    {
        int outF = weight.Shape[0], inF = weight.Shape[1];
        if (shape.Length != 1 || shape[0] != inF)
            throw Fail(node, $"expects per-sample input [{inF}] but the previous layers produce {Shape.Format(shape)}.");
        Tensor<T>? bias = null;
        if (biasName is not null)
        {
            bias = ConstantTensor(node, biasName);
            if (Shape.Size(bias.Shape) != outF || bias.Rank > 2 || (bias.Rank == 2 && bias.Shape[0] != 1))
                throw Fail(node, $"has a bias '{Text.Escape(biasName)}' of shape {Shape.Format(bias.Shape)}; expected [{outF}].");
        }
        var layer = new Linear<T>(LayerName(node, weightName, biasName), inF, outF, bias is not null);
        CopyParameters(node, layer.Weight, weight, layer.Bias, bias);
        return (layer, [outF]);
    }

    private (Module<T>, int[]) Conv(NodeProto node, int[] shape)
    {
        if (Int(node, "group", 1) != 1) throw Fail(node, $"has group={Int(node, "group", 1)}; only group 1 is supported.");
        CheckAutoPad(node);
        var (weightName, w) = Weight(node, 1);
        if (w.Rank != 4 || w.Shape[2] != w.Shape[3])
            throw Fail(node, $"has a weight of shape {Shape.Format(w.Shape)}; expected [out, in, k, k] (2-D, square kernel).");
        int cout = w.Shape[0], cin = w.Shape[1], k = w.Shape[2];
        if (Ints(node, "kernel_shape") is { Length: > 0 } ks && Square(node, "kernel_shape", ks, 2) != k)
            throw Fail(node, $"has kernel_shape {Text.Shape(ks)} but a weight of shape {Shape.Format(w.Shape)}.");
        if (Ints(node, "dilations") is { Length: > 0 } dil && dil.Any(d => d != 1)) throw Fail(node, $"has dilations {Text.Shape(dil)}; only 1 is supported.");
        int s = Ints(node, "strides") is { Length: > 0 } st ? Square(node, "strides", st, 2) : 1;
        int p = Ints(node, "pads") is { Length: > 0 } pads ? Square(node, "pads", pads, 4) : 0;
        if (s < 1 || p < 0) throw Fail(node, $"has stride {s} and padding {p}; expected stride >= 1 and padding >= 0.");
        ExpectRank(node, shape, 3, $"[{cin}, H, W]");
        if (shape[0] != cin || shape[1] + 2L * p < k || shape[2] + 2L * p < k)
            throw Fail(node, $"expects per-sample input [{cin}, H, W] with H, W >= {k - 2L * p} but the previous layers produce {Shape.Format(shape)}.");
        string? biasName = node.Input.Count > 2 && node.Input[2].Length > 0 ? node.Input[2] : null;
        Tensor<T>? bias = null;
        if (biasName is not null)
        {
            bias = ConstantTensor(node, biasName);
            if (bias.Rank != 1 || bias.Shape[0] != cout) throw Fail(node, $"has a bias of shape {Shape.Format(bias.Shape)}; expected [{cout}].");
        }
        var layer = new Conv2d<T>(LayerName(node, weightName, biasName), cin, cout, k, s, p, bias is not null);
        CopyParameters(node, layer.Weight, w, layer.Bias, bias);
        return (layer, OutputShape(node, cout, (shape[1] + 2L * p - k) / s + 1, (shape[2] + 2L * p - k) / s + 1));
    }

    /// <summary>[C, H, W] after a convolution, capped as any tensor shape (padding can make it large).</summary>
    private int[] OutputShape(NodeProto node, int channels, long height, long width)
    {
        if (height > int.MaxValue || width > int.MaxValue || !ShapeCheck.TryCount([channels, (int)height, (int)width], out _))
            throw Fail(node, $"would produce per-sample shape [{channels}, {height}, {width}], more than {int.MaxValue} elements.");
        return [channels, (int)height, (int)width];
    }

    private (Module<T>, int[]) Pool(NodeProto node, int[] shape)
    {
        CheckAutoPad(node);
        if (Int(node, "ceil_mode", 0) != 0) throw Fail(node, "has ceil_mode=1; only floor rounding (PyTorch's default) is supported.");
        if (Ints(node, "kernel_shape") is not { Length: > 0 } ks) throw Fail(node, "has no kernel_shape.");
        int k = Square(node, "kernel_shape", ks, 2);
        int s = Ints(node, "strides") is { Length: > 0 } st ? Square(node, "strides", st, 2) : 1;
        if (Ints(node, "pads") is { Length: > 0 } pads && pads.Any(v => v != 0)) throw Fail(node, $"has pads {Text.Shape(pads)}; only unpadded pooling is supported.");
        if (Ints(node, "dilations") is { Length: > 0 } dil && dil.Any(d => d != 1)) throw Fail(node, $"has dilations {Text.Shape(dil)}; only 1 is supported.");
        if (Int(node, "storage_order", 0) != 0) throw Fail(node, "has storage_order=1; only row-major is supported.");
        if (k < 1 || s < 1) throw Fail(node, $"has kernel {k} and stride {s}; expected positive values.");
        ExpectRank(node, shape, 3, "[C, H, W]");
        if (shape[1] < k || shape[2] < k) throw Fail(node, $"pools {k} x {k} windows but the previous layers produce {Shape.Format(shape)}.");
        Module<T> module = node.OpType == "MaxPool" ? new MaxPool2d<T>(k, s) : new AvgPool2d<T>(k, s);
        return (module, [shape[0], (shape[1] - k) / s + 1, (shape[2] - k) / s + 1]);
    }

    /// <summary>A Reshape that keeps the batch axis and flattens the rest (or changes nothing).</summary>
    private (Module<T>?, int[]) Reshape(NodeProto node, int[] shape)
    {
        if (node.Input.Count != 2 || node.Input[1].Length == 0) throw Fail(node, "has no target shape.");
        if (Int(node, "allowzero", 0) != 0) throw Fail(node, "has allowzero=1; not supported.");
        var s = ShapeValue(node, node.Input[1], 0);
        string Target() => "[" + string.Join(", ", s.Select(v => v == Batch ? "N" : v.ToString(CultureInfo.InvariantCulture))) + "]";
        if (s.Skip(1).Contains(Batch)) throw Fail(node, $"reshapes to {Target()}; expected the batch axis N first only.");
        if (s.Length < 1 || !(s[0] is 0 or -1 or Batch || (_fixedBatch is { } n && s[0] == n)))
            throw Fail(node, $"reshapes to {Target()}; expected the batch axis first (0, -1 or the fixed batch size) and a flattened sample.");
        int size = Shape.Size(shape);
        var perSample = new long[s.Length - 1];
        for (int i = 1; i < s.Length; i++) perSample[i - 1] = s[i] == 0 && i - 1 < shape.Length ? shape[i - 1] : s[i];
        bool flat = perSample.Length == 1 && (perSample[0] == size || (perSample[0] == -1 && s[0] != -1));
        if (flat) return (shape.Length == 1 ? null : new Flatten<T>(), [size]);
        if (perSample.SequenceEqual(shape.Select(d => (long)d))) return (null, shape);
        throw Fail(node, $"reshapes per-sample shape {Shape.Format(shape)} by {Target()}; only flattening to [N, {size}] is supported.");
    }

    /// <summary>The value of an INT64 shape tensor: a constant, or computed by Shape, Gather, Unsqueeze and Concat
    /// from the shapes the walk has followed (the batch size as <see cref="Batch"/>).</summary>
    private long[] ShapeValue(NodeProto reshape, string name, int depth)
    {
        if (_constants.TryGetValue(name, out var constant)) return OnnxTensors.Int64s(constant, _path, name);
        if (depth > 32 || !_producers.TryGetValue(name, out var node) || !ShapeOps.Contains(node.OpType))
            throw Fail(reshape, $"computes its target shape from '{Text.Escape(name)}', which is neither a constant nor computed by {string.Join(", ", ShapeOps)}.");
        _visited.Add(node); // a shape computation may serve several Reshapes
        long[] Input(int i) => node.Input.Count > i && node.Input[i].Length > 0 ? ShapeValue(reshape, node.Input[i], depth + 1)
            : throw Fail(node, $"has no input {i}.");
        switch (node.OpType)
        {
            case "Shape":
            {
                if (!_shapes.TryGetValue(node.Input.FirstOrDefault() ?? "", out var sample))
                    throw Fail(node, "reads the shape of a value that the layers before its Reshape do not compute.");
                long[] full = [Batch, .. sample.Select(d => (long)d)];
                long start = Int(node, "start", 0), end = Int(node, "end", full.Length);
                start = Math.Clamp(start < 0 ? start + full.Length : start, 0, full.Length);
                end = Math.Clamp(end < 0 ? end + full.Length : end, start, full.Length);
                return full[(int)start..(int)end];
            }
            case "Gather":
            {
                if (Int(node, "axis", 0) != 0) throw Fail(node, "gathers along an axis other than 0 of a shape.");
                var data = Input(0);
                return Input(1).Select(i => i >= -data.Length && i < data.Length ? data[i < 0 ? i + data.Length : i]
                    : throw Fail(node, $"gathers index {i} of a shape of length {data.Length}.")).ToArray();
            }
            case "Unsqueeze":
            {
                var axes = node.Input.Count > 1 ? Input(1) : Ints(node, "axes") ?? [];
                if (axes is not [0]) throw Fail(node, $"unsqueezes axes {Text.Shape(axes)} of a shape value; expected [0].");
                return Input(0); // a scalar becomes a one-element vector: the same elements
            }
            default: // Concat
                if (Int(node, "axis", 0) != 0) throw Fail(node, "concatenates shape values along an axis other than 0.");
                return Enumerable.Range(0, node.Input.Count).SelectMany(Input).ToArray();
        }
    }

    /// <summary>PyTorch exports AvgPool2d as a Pad (of zeros) before AveragePool: a zero Pad passes its input on.</summary>
    private Module<T>? ZeroPad(NodeProto node)
    {
        var mode = Str(node, "mode", "constant");
        long[] pads = node.Input.Count > 1 && node.Input[1].Length > 0
            ? (_constants.TryGetValue(node.Input[1], out var t) ? OnnxTensors.Int64s(t, _path, node.Input[1]) : throw Fail(node, "has pads computed at run time; expected constant zeros."))
            : Ints(node, "pads") ?? [];
        if (mode != "constant" || pads.Any(p => p != 0))
            throw Fail(node, $"pads by {Text.Shape(pads)} in mode {Text.Quote(mode, 20)}; only a zero Pad (as PyTorch writes before AveragePool) is supported.");
        return null;
    }

    // ------------------------------------------------------------------ parameters

    private (string Name, Tensor<T> Value) Weight(NodeProto node, int input)
    {
        if (node.Input.Count <= input || node.Input[input].Length == 0) throw Fail(node, $"has no weight (input {input}).");
        var name = node.Input[input];
        return (name, ConstantTensor(node, name));
    }

    private Tensor<T> ConstantTensor(NodeProto node, string name)
    {
        if (!_constants.TryGetValue(name, out var t))
            throw Fail(node, $"takes '{Text.Escape(name)}' as a weight, but it is computed; expected an initializer.");
        if (_constantUses.GetValueOrDefault(name) > 1)
            throw Fail(node, $"shares the weight '{Text.Escape(name)}' with another node; tied weights are not supported.");
        return OnnxTensors.Floats<T>(t, _path, name);
    }

    private void CopyParameters(NodeProto node, Parameter<T> weight, Tensor<T> w, Parameter<T>? bias, Tensor<T>? b)
    {
        foreach (var p in bias is null ? [weight] : new[] { weight, bias })
            if (!_parameterNames.Add(p.Name)) throw Fail(node, $"would create a second parameter named '{Text.Escape(p.Name)}'.");
        w.Span.CopyTo(weight.Value.Span);
        if (bias is not null) b!.Span.CopyTo(bias.Value.Span);
    }

    /// <summary>The layer's name, so that parameters are called as in PyTorch: the initializer's name without
    /// ".weight" (or ".bias"), else the node's module scope ("/2/body/body.0/MatMul" is layer "2.body.0").</summary>
    private string LayerName(NodeProto node, string weightName, string? biasName)
    {
        static bool Named(string name) => !name.StartsWith("onnx::", StringComparison.Ordinal);
        if (weightName.EndsWith(".weight", StringComparison.Ordinal) && Named(weightName)) return weightName[..^".weight".Length];
        if (biasName is not null && biasName.EndsWith(".bias", StringComparison.Ordinal) && Named(biasName)) return biasName[..^".bias".Length];
        var scopes = node.Name.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var parts = new List<string>();
        foreach (var scope in scopes.Take(scopes.Length - 1))
        {
            // A child's scope repeats its parent's attribute name ("body", then "body.0").
            if (parts.Count > 0 && scope.StartsWith(parts[^1] + ".", StringComparison.Ordinal)) parts[^1] = scope;
            else parts.Add(scope);
        }
        return parts.Count > 0 ? string.Join(".", parts) : "node" + _index[node].ToString(CultureInfo.InvariantCulture);
    }

    // ------------------------------------------------------------------ graph level

    private long Opset()
    {
        var ops = _model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").ToList();
        if (ops.Count == 0) throw Error("the model imports no default-domain opset; expected an ONNX opset.");
        long v = ops.Max(o => o.Version);
        if (v < MinOpset || v > MaxOpset)
            throw Error($"the model uses opset {v}; expected an opset from {MinOpset} to {MaxOpset} (torch.onnx.export(..., opset_version=13 to 17)).");
        return v;
    }

    private (string Name, int[] Shape) GraphInput()
    {
        var inputs = _graph.Input.Where(i => !_constants.ContainsKey(i.Name)).ToList();
        if (inputs.Count != 1)
            throw Error($"the graph has {inputs.Count} data inputs ({string.Join(", ", inputs.Select(i => Text.Quote(i.Name, 60)))}); expected one.");
        var input = inputs[0];
        var tensor = input.Type?.TensorType;
        if (tensor is null) throw Error($"the graph input {Text.Quote(input.Name, 60)} is not a tensor.");
        if (tensor.ElemType is not ((int)TensorProto.Types.DataType.Float or (int)TensorProto.Types.DataType.Double))
            throw Error($"the graph input {Text.Quote(input.Name, 60)} has element type {OnnxTensors.TypeName(tensor.ElemType)}; expected FLOAT or DOUBLE.");
        var dims = tensor.Shape?.Dim;
        if (dims is null || dims.Count < 2)
            throw Error($"the graph input {Text.Quote(input.Name, 60)} has {(dims is null ? "no shape" : $"rank {dims.Count}")}; expected [N, *input_shape] with a batch axis first.");
        if (dims[0].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue)
        {
            long n = dims[0].DimValue;
            if (n < 1 || n > int.MaxValue) throw Error($"the graph input's batch size is {n}; expected a positive size or a named (dynamic) axis.");
            _fixedBatch = (int)n;
        }
        var shape = new int[dims.Count - 1];
        for (int i = 1; i < dims.Count; i++)
        {
            var d = dims[i];
            if (d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue)
                throw Error($"dimension {i} of the graph input is dynamic ({Text.Quote(d.DimParam, 40)}); only the batch axis may be, export with fixed sample sizes.");
            if (d.DimValue < 1 || d.DimValue > int.MaxValue) throw Error($"dimension {i} of the graph input is {d.DimValue}; expected a positive size.");
            shape[i - 1] = (int)d.DimValue;
        }
        if (!ShapeCheck.TryCount(shape, out _)) throw Error($"the graph input's per-sample shape {Shape.Format(shape)} has more than {int.MaxValue} elements.");
        return (input.Name, shape);
    }

    private void CheckDeclaredOutput(int[] shape)
    {
        var dims = _graph.Output[0].Type?.TensorType?.Shape?.Dim;
        if (dims is null || dims.Count == 0) return; // no declared shape: nothing to cross-check
        bool ok = dims.Count == shape.Length + 1;
        for (int i = 1; ok && i < dims.Count; i++)
            ok = dims[i].ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue || dims[i].DimValue == shape[i - 1];
        if (!ok)
            throw Error($"the graph declares its output with shape [{string.Join(", ", dims.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue.ToString(CultureInfo.InvariantCulture) : d.DimParam))}] " +
                $"but its layers produce [N, {string.Join(", ", shape)}].");
    }

    private void AddConstantNode(NodeProto node)
    {
        var value = node.Attribute.FirstOrDefault(a => a.Name == "value");
        if (value?.T is null || node.Output.Count != 1)
            throw Fail(node, "is a Constant without a tensor 'value' attribute; expected a tensor constant.");
        _constants[node.Output[0]] = value.T;
        _visited.Add(node);
    }

    // ------------------------------------------------------------------ attributes and messages

    private static AttributeProto? Attr(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);
    private static long Int(NodeProto node, string name, long fallback) => Attr(node, name) is { } a ? a.I : fallback;
    private static float Float(NodeProto node, string name, float fallback) => Attr(node, name) is { } a ? a.F : fallback;
    private static string Str(NodeProto node, string name, string fallback) => Attr(node, name) is { } a ? a.S.ToStringUtf8() : fallback;
    private static long[]? Ints(NodeProto node, string name) => Attr(node, name)?.Ints.ToArray();

    private void CheckAutoPad(NodeProto node)
    {
        var autoPad = Str(node, "auto_pad", "NOTSET");
        if (autoPad is not ("NOTSET" or "")) throw Fail(node, $"has auto_pad={Text.Quote(autoPad, 20)}; only explicit pads (NOTSET) are supported.");
    }

    /// <summary>The single value of <paramref name="count"/> equal entries (square kernels, symmetric pads).</summary>
    private int Square(NodeProto node, string name, long[] values, int count)
    {
        if (values.Length != count || values.Any(v => v != values[0]) || values[0] < 0 || values[0] > int.MaxValue)
            throw Fail(node, $"has {name} {Text.Shape(values)}; only {count} equal non-negative values (2-D, square, symmetric) are supported.");
        return (int)values[0];
    }

    private void ExpectRank(NodeProto node, int[] shape, int rank, string layout)
    {
        if (shape.Length != rank) throw Fail(node, $"expects per-sample input {layout} but the previous layers produce {Shape.Format(shape)}.");
    }

    private string Describe(NodeProto node)
        => node.Name.Length > 0 ? Text.Quote(node.Name, 80) + $" ({Text.Escape(node.OpType, 40)})"
            : $"#{_index.GetValueOrDefault(node)} ({Text.Escape(node.OpType, 40)}, output {Text.Quote(node.Output.FirstOrDefault() ?? "", 60)})";

    private CurvNativeFormatException Fail(NodeProto node, string detail) => Error($"node {Describe(node)} {detail}");

    private CurvNativeFormatException Error(string detail) => new(_path, null, detail);
}
