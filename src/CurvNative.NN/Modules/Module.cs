using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.Tensors;

namespace CurvNative.NN.Modules;

/// <summary>A trainable tensor with its PyTorch name (e.g. "0.weight"). The leaf variable is
/// created once; optimizers update <see cref="Value"/> in place, so graphs built later see the new values.</summary>
public sealed class Parameter<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public Parameter(string name, Tensor<T> value)
    {
        Name = name;
        Var = Var<T>.Leaf(value, name);
    }

    public string Name { get; }
    public Var<T> Var { get; }
    public Tensor<T> Value => Var.Value;
    public ReadOnlySpan<int> Shape => Value.Shape;
    public int Length => Value.Length;

    public override string ToString() => $"{Name} {Tensors.Shape.Format(Shape)}";
}

/// <summary>What a layer hands out: its input and its output during the forward pass, and the
/// gradient with respect to its output during a backward pass (what KFAC needs).</summary>
public delegate void ForwardHook<T>(Module<T> layer, Var<T> input, Var<T> output) where T : unmanaged, IFloatingPointIeee754<T>;

/// <inheritdoc cref="ForwardHook{T}"/>
public delegate void BackwardHook<T>(Module<T> layer, Var<T> input, Var<T> gradOutput) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// A differentiable layer or container, PyTorch-style: named parameters in PyTorch's naming and
/// layouts, a train/eval mode, children, and forward/backward hooks.
/// </summary>
public abstract class Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private bool _training = true;

    /// <summary>Runs the layer. Subclasses implement <see cref="ForwardCore"/>.</summary>
    public Var<T> Forward(Var<T> x)
    {
        var y = ForwardCore(x);
        ForwardHooks?.Invoke(this, x, y);
        if (BackwardHooks is { } hooks && y.RequiresGrad)
            y.RegisterGradHook(g => hooks(this, x, g));
        return y;
    }

    protected abstract Var<T> ForwardCore(Var<T> x);

    /// <summary>Called after each forward pass with the input and output.</summary>
    public event ForwardHook<T>? ForwardHooks;

    /// <summary>Called during backward passes with the input and the gradient of the output.</summary>
    public event BackwardHook<T>? BackwardHooks;

    /// <summary>Direct sub-modules, with their names relative to this module.</summary>
    public virtual IEnumerable<(string Name, Module<T> Module)> Children() => [];

    /// <summary>Parameters held directly by this module (not by children), in PyTorch order.</summary>
    protected virtual IEnumerable<Parameter<T>> OwnParameters() => [];

    /// <summary>All parameters in PyTorch's order (that of <c>model.parameters()</c>).</summary>
    public IEnumerable<Parameter<T>> Parameters()
    {
        foreach (var p in OwnParameters()) yield return p;
        foreach (var (_, child) in Children())
            foreach (var p in child.Parameters()) yield return p;
    }

    /// <summary>All modules below and including this one, depth-first in order.</summary>
    public IEnumerable<Module<T>> Modules()
    {
        yield return this;
        foreach (var (_, child) in Children())
            foreach (var m in child.Modules()) yield return m;
    }

    /// <summary>Training mode (Dropout active, BatchNorm uses batch statistics).</summary>
    public bool Training
    {
        get => _training;
        set { _training = value; foreach (var (_, c) in Children()) c.Training = value; }
    }

    public Module<T> Train() { Training = true; return this; }
    public Module<T> Eval() { Training = false; return this; }

    /// <summary>A short description, e.g. "Linear(12 -> 16, bias)".</summary>
    public override string ToString() => GetType().Name.Split('`')[0];

    internal static Tensor<T> Uniform(Random rng, T bound, params int[] shape)
    {
        var t = Tensor<T>.Zeros(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = bound * T.CreateTruncating(2 * rng.NextDouble() - 1);
        return t;
    }

    internal static void CheckRank(Var<T> x, int rank, string layer, string layout)
    {
        if (x.Rank != rank) throw new ArgumentException($"{layer} expects input {layout} (rank {rank}) but got shape {Tensors.Shape.Format(x.Shape)}.");
    }
}
