using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.NN.Data;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Operators.Curvature;

/// <summary>
/// The Jacobian J = d f / d theta of the model outputs over the whole data set (rows: samples in
/// data order, then output elements row-major; output space one block [N, *output]) with respect
/// to the parameters. J V is a stacked forward-mode JVP per batch and chunk of columns.
/// </summary>
public sealed class JacobianOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly JacobianCore<T> _core;

    public JacobianOperator(Module<T> model, DataSet<T> data, CurvatureOptions? options = null)
        : this(new JacobianCore<T>(model, data, options)) { }

    private JacobianOperator(JacobianCore<T> core) : base(core.OutputSpace, core.ParameterSpace) => _core = core;

    internal static JacobianOperator<T> FromCore(JacobianCore<T> core) => new(core);

    public IReadOnlyList<Parameter<T>> Parameters => _core.Parameters;

    protected override Tensor<T> MatMatCore(Tensor<T> x) => _core.Jv(x);

    protected override LinearOperator<T> TransposeCore() => JacobianTransposeOperator<T>.FromCore(_core);
}

/// <summary>J^T: maps vectors over all model outputs to parameter space by a stacked VJP per batch and chunk of columns.</summary>
public sealed class JacobianTransposeOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly JacobianCore<T> _core;

    public JacobianTransposeOperator(Module<T> model, DataSet<T> data, CurvatureOptions? options = null)
        : this(new JacobianCore<T>(model, data, options)) { }

    private JacobianTransposeOperator(JacobianCore<T> core) : base(core.ParameterSpace, core.OutputSpace) => _core = core;

    internal static JacobianTransposeOperator<T> FromCore(JacobianCore<T> core) => new(core);

    protected override Tensor<T> MatMatCore(Tensor<T> x) => _core.JTu(x);

    protected override LinearOperator<T> TransposeCore() => JacobianOperator<T>.FromCore(_core);
}

/// <summary>Shared state and products of the Jacobian and its transpose.</summary>
internal sealed class JacobianCore<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public JacobianCore(Module<T> model, DataSet<T> data, CurvatureOptions? options)
    {
        Options = options ?? new CurvatureOptions();
        if (Options.BatchSize is < 1) throw new ArgumentOutOfRangeException(nameof(options), $"Batch size must be positive, got {Options.BatchSize}.");
        Model = model; Data = data;
        var all = ParameterSelection.Select(model, Options.ParameterNames);
        Parameters = all;
        ParameterSpace = Space.FromParameters(all);
        // One forward pass on a single sample fixes the per-sample output shape.
        int[] outShape;
        using (GradMode.Disable()) outShape = model.Forward(Var<T>.Constant(data.X.Slice0(0, Math.Min(1, data.Count)))).Value.ShapeArray[1..];
        OutputsPerSample = Shape.Size(outShape);
        OutputSpace = new Space([[data.Count, .. outShape]]);
    }

    public Module<T> Model { get; }
    public DataSet<T> Data { get; }
    public CurvatureOptions Options { get; }
    public IReadOnlyList<Parameter<T>> Parameters { get; }
    public Space ParameterSpace { get; }
    public Space OutputSpace { get; }
    public int OutputsPerSample { get; }

    private List<Var<T>> Leaves => Parameters.Select(p => p.Var).ToList();

    /// <summary>J X over all batches, columns in stacked chunks (one JVP sweep per batch and chunk).</summary>
    public Tensor<T> Jv(Tensor<T> x)
    {
        int k = x.Shape[1];
        var y = Tensor<T>.Zeros(Data.Count * OutputsPerSample, k);
        int start = 0;
        foreach (var batch in Data.Batches(Options.BatchSize))
        {
            var f = Model.Forward(Var<T>.Constant(batch.X));
            var (rows, space) = BatchRows(y, start, f);
            foreach (var (c0, kc) in CurvatureOperator<T>.ColumnChunks(k, [f]))
                space.AddColumns(rows, c0, Autograd.JvpStacked([f], Leaves, ParameterSpace.SplitColumns(x, c0, kc)), T.One);
            start += batch.Count;
        }
        return y;
    }

    /// <summary>The rows of an output-space matrix m [N outputs, K] that belong to the batch of samples
    /// start .. with outputs f, as a view, and the space of that batch's outputs.</summary>
    private (Tensor<T> Rows, Space Space) BatchRows(Tensor<T> m, int start, Var<T> f)
        => (m.View(start * OutputsPerSample * m.Shape[1], [f.Length, m.Shape[1]]), new Space([f.Value.ShapeArray]));

    /// <summary>J^T U over all batches, columns in stacked chunks (one VJP sweep per batch and chunk).</summary>
    public Tensor<T> JTu(Tensor<T> u)
    {
        int k = u.Shape[1];
        var y = Tensor<T>.Zeros(ParameterSpace.Dimension, k);
        int start = 0;
        foreach (var batch in Data.Batches(Options.BatchSize))
        {
            var f = Model.Forward(Var<T>.Constant(batch.X));
            var (rows, space) = BatchRows(u, start, f);
            foreach (var (c0, kc) in CurvatureOperator<T>.ColumnChunks(k, [f]))
                ParameterSpace.AddColumns(y, c0, Autograd.GradStacked(f, Leaves, space.SplitColumns(rows, c0, kc)[0]), T.One);
            start += batch.Count;
        }
        return y;
    }
}
